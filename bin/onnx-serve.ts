#!/usr/bin/env node
// The command line: start the server, or mint a bearer token for it. Plain
// JavaScript once built (dist/bin/onnx-serve.js), so it runs in a production
// install, which has no TypeScript.

import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { version } from '../package.json'
import { mintToken, parseTtl } from '../lib/auth/token'

export const USAGE = `onnx-serve ${version}: an inference server for ONNX models

Usage:
  onnx-serve [serve]      start the server; the environment (or a .env file
                          in the working folder) configures it: see .env.example
  onnx-serve token --sub NAME [--scope "predict admin"] [--ttl 1h]
                          print a bearer token signed with JWT_SECRET (or, outside
                          production, the development secret); scopes: predict,
                          admin, metrics; --ttl: a number and s, m, h or d
  onnx-serve --help       this text
  onnx-serve --version    the version
`

class UsageError extends Error {}

function token (args: string[]): void {
  const { values } = parseArgs({
    args,
    options: {
      sub: { type: 'string' },
      scope: { type: 'string', default: 'predict' },
      ttl: { type: 'string', default: '1h' },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  if (values.help) {
    process.stdout.write(USAGE)
    return
  }
  if (existsSync('.env')) process.loadEnvFile('.env')
  if (values.sub === undefined || values.sub === '') throw new Error('--sub NAME is required: the identity the token speaks for')
  process.stdout.write(`${mintToken({ sub: values.sub, scope: values.scope, ttlSeconds: parseTtl(values.ttl) })}\n`)
}

function main (argv: string[]): void {
  const [command = 'serve', ...rest] = argv
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE)
  } else if (command === '--version' || command === '-v') {
    process.stdout.write(`${version}\n`)
  } else if (command === 'serve') {
    if (rest.includes('--help') || rest.includes('-h')) process.stdout.write(USAGE)
    else if (rest.length > 0) throw new UsageError(`serve takes no arguments (the environment configures it), received ${rest.join(' ')}`)
    // Loading the entry point starts it (and, with WORKERS > 1, its cluster).
    else require('../server')
  } else if (command === 'token') {
    token(rest)
  } else {
    throw new UsageError(`unknown command ${JSON.stringify(command)}`)
  }
}

try {
  main(process.argv.slice(2))
} catch (error) {
  const usage = error instanceof UsageError || (error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS') === true
  process.stderr.write(`onnx-serve: ${(error as Error).message}\n${usage ? `\n${USAGE}` : ''}`)
  process.exit(usage ? 2 : 1)
}
