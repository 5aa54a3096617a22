// Preload (`node --import`) that counts every call from JavaScript into wgkit's N-API addon and
// every callback from the addon into JavaScript, then writes the counts as JSON at exit to
// $WGKIT_NAPI_COUNT_OUT. Used to show that moving data packets costs no N-API calls.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const native = require('../../lib/native.cjs'); // the same module object dist/ imports
const calls = {};
const callbacks = { invocations: 0, items: 0 };
const bump = (name) => (calls[name] = (calls[name] ?? 0) + 1);

const wrapArgs = (args) =>
  args.map((a) =>
    typeof a === 'function'
      ? function (...cbArgs) {
          callbacks.invocations++;
          for (const x of cbArgs) if (Array.isArray(x)) callbacks.items += x.length;
          return a.apply(this, cbArgs);
        }
      : a,
  );

function wrapFunction(fn, name) {
  return function (...args) {
    bump(name);
    return fn.apply(this, wrapArgs(args));
  };
}

function wrapMembers(target, prefix) {
  for (const key of Object.getOwnPropertyNames(target)) {
    if (key === 'constructor' || key === 'prototype' || key === 'length' || key === 'name') continue;
    const d = Object.getOwnPropertyDescriptor(target, key);
    if (!d?.configurable) continue;
    if (typeof d.value === 'function') {
      Object.defineProperty(target, key, { ...d, value: wrapFunction(d.value, `${prefix}${key}`) });
    } else if (d.get) {
      const get = d.get;
      Object.defineProperty(target, key, { ...d, get() { bump(`${prefix}${key}`); return get.call(this); } });
    }
  }
}

// napi-rs defines a class's static factories as non-configurable: the export is replaced by a
// stand-in class that shares the prototype and forwards counted calls to the real statics.
function wrapClass(cls, name) {
  wrapMembers(cls.prototype, `${name}#`); // instance methods and getters
  const standIn = function (...args) {
    bump(`${name}.constructor`);
    return new cls(...wrapArgs(args));
  };
  Object.setPrototypeOf(standIn, cls);
  standIn.prototype = cls.prototype;
  for (const key of Object.getOwnPropertyNames(cls)) {
    if (['length', 'name', 'prototype', 'arguments', 'caller'].includes(key)) continue;
    if (typeof cls[key] === 'function') {
      Object.defineProperty(standIn, key, { value: wrapFunction(cls[key].bind(cls), `${name}.${key}`), writable: true, configurable: true });
    }
  }
  return standIn;
}

for (const [name, value] of Object.entries(native)) {
  if (typeof value !== 'function') continue;
  if (value.prototype && Object.getOwnPropertyNames(value.prototype).length > 1) {
    native[name] = wrapClass(value, name);
  } else {
    native[name] = wrapFunction(value, name);
  }
}

const started = Date.now();
process.on('exit', () => {
  const out = process.env.WGKIT_NAPI_COUNT_OUT;
  if (!out) return;
  const total = Object.values(calls).reduce((s, n) => s + n, 0);
  writeFileSync(out, JSON.stringify({ calls_total: total, calls, callbacks, lifetime_ms: Date.now() - started }) + '\n');
});
