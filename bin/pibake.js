#!/usr/bin/env -S node --max-semi-space-size=4
// The pibake command. The sources are TypeScript, run with Node's built-in type stripping.
import '../src/cli.ts'
