// What the registry commands share: the --plain-http / --ca-file flags, the credential chain
// (KIT_REGISTRY_AUTH, $KIT_HOME/auth.json written by `kit login`, docker's config) and the
// progress display (cli/progress.ts: a bar on a terminal, one line per blob and stage elsewhere).
import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {Flags} from '@oclif/core'
import {BlobSources} from '../registry-client/blob-sources.js'
import {defaultCredentials} from '../registry-client/credentials.js'
import type {RemoteOptions} from '../registry-client/remote.js'
import {kitHome} from '../runtime/home.js'
import {progressDisplay, progressMode, type ProgressDisplay, type ProgressVerbs} from './progress.js'

export const registryFlags = {
  'plain-http': Flags.boolean({
    description: 'Talk plain HTTP to the registry (loopback registries fall back to it by themselves).',
    default: false,
  }),
  'ca-file': Flags.string({description: 'PEM file of an extra CA to trust for the registry (NODE_EXTRA_CA_CERTS works too).'}),
}

/** --quiet for the commands that show transfer progress. */
export const quietFlag = {
  quiet: Flags.boolean({char: 'q', description: 'No progress output (the result lines only).', default: false}),
}

/** kit's own credential file, written by `kit login` (docker's config.json shape, mode 0600). */
export function authFilePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(kitHome(env), 'auth.json')
}

export async function registryOptions(flags: {'plain-http'?: boolean; 'ca-file'?: string}): Promise<RemoteOptions> {
  const opts: RemoteOptions = {credentials: defaultCredentials({authFile: authFilePath()})}
  if (flags['plain-http']) opts.plainHttp = true
  if (flags['ca-file']) opts.tls = {ca: await readFile(flags['ca-file'], 'utf8')}
  return opts
}

/** Where blobs were seen on registries ($KIT_HOME/blob-sources.json): push mounts from there. */
export function blobSources(): Promise<BlobSources> {
  return BlobSources.open(join(kitHome(), 'blob-sources.json'))
}

export function progress(label: string, verbs: ProgressVerbs, opts: {json: boolean; quiet?: boolean}): ProgressDisplay {
  return progressDisplay(label, verbs, process.stderr, progressMode(process.stderr, opts))
}
