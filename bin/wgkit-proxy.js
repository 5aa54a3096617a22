#!/usr/bin/env node
import { main } from '../dist/cli/wgkit-proxy.js';

process.exitCode = await main(process.argv.slice(2));
