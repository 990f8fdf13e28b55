// The kit CLI's entry point (bin/kit imports it). In the npm package it is bundled with
// @oclif/core into dist/cli/main.js (scripts/bundle.mjs): one file to load at start-up.
import {execute} from '@oclif/core'

export async function main(): Promise<void> {
  await execute({dir: import.meta.url})
}
