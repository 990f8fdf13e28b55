// `kit pus`: an unknown command is a usage error (exit 2) in one line, with the closest command
// ("did you mean push?"), or a JSON error object on stdout under --json.
import type {Hook} from '@oclif/core'
import {closest, distance} from 'fastest-levenshtein'
import {usageError} from '../usage.js'

const hook: Hook.CommandNotFound = async function (opts) {
  const sep = opts.config.topicSeparator
  const typed = opts.id.split(':').join(sep)
  const visible = opts.config.commands.filter((c) => !c.hidden)
  const ids = [...visible.map((c) => c.id), ...visible.flatMap((c) => c.aliases)]
  const best = ids.length > 0 ? closest(opts.id, ids) : undefined
  // A suggestion only when it is close: at most a third of the letters differ.
  const near = best !== undefined && distance(opts.id, best) <= Math.max(2, Math.floor(opts.id.length / 3))
  const hint = near ? `did you mean "${best.split(':').join(sep)}"? ` : ''
  usageError(`"${typed}" is not a kit command; ${hint}(kit help lists them)`, 'USAGE', opts.argv ?? [])
  this.exit(2)
}

export default hook
