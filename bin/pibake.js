#!/usr/bin/env node
// The pibake command. The sources are TypeScript, run with Node's built-in type stripping.
import '../src/cli.ts'
