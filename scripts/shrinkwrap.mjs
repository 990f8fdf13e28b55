#!/usr/bin/env node
// The package ships package-lock.json as npm-shrinkwrap.json (prepack; postpack removes the copy):
// `npm install -g ./kit-X.tgz` then installs exactly the dependency tree the tests ran with, and
// installs offline from a cache that `npm ci` filled (the lockfile names every tarball and its
// integrity, so npm needs no registry metadata). Dev dependencies in it are marked dev and skipped.
import {copyFileSync, rmSync} from 'node:fs'
import {join, dirname} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const target = join(root, 'npm-shrinkwrap.json')
if (process.argv.includes('--remove')) rmSync(target, {force: true})
else copyFileSync(join(root, 'package-lock.json'), target)
