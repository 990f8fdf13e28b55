// `kit pus`: an unknown command is a usage error (exit 2) in one line, with the closest command
// ("did you mean push?"), or a JSON error object on stdout under --json.
import type {Hook} from '@oclif/core'
import {closest, distance} from 'fastest-levenshtein'
import {usageError} from '../usage.js'

const hook: Hook.CommandNotFound = async function (opts) {
  const sep = opts.config.topicSeparator
  const visible = opts.config.commands.filter((c) => !c.hidden)
  const ids = [...visible.map((c) => c.id), ...visible.flatMap((c) => c.aliases)]
  // With spaces between topic and command, oclif joins the leading words (`kit pus a b` is
  // "pus:a:b"): the command is some prefix of them. Take the prefix closest to a command.
  const parts = opts.id.split(':')
  let typed = parts[0]!
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (let k = parts.length; k >= 1 && ids.length > 0; k--) {
    const candidate = parts.slice(0, k).join(':')
    const match = closest(candidate, ids)
    const d = distance(candidate, match)
    // A suggestion only when it is close: at most a third of the letters differ.
    if (d < bestDistance && d <= Math.max(2, Math.floor(candidate.length / 3))) {
      best = match
      bestDistance = d
      typed = candidate
    }
  }
  typed = typed.split(':').join(sep)
  const hint = best !== undefined ? `; did you mean "${best.split(':').join(sep)}"?` : ''
  usageError(`"${typed}" is not a kit command${hint} (kit help lists them)`, 'USAGE', opts.argv ?? [])
  this.exit(2)
}

export default hook
