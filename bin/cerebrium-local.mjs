#!/usr/bin/env node
// The CLI ships as TypeScript source: tsx compiles it on load, and the same hooks let
// users' apps be plain TypeScript with no build step of theirs.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
