/**
 * The generated N-API loader (`lib/native.cjs`, written by `napi build`). Nothing else in the
 * package imports it directly.
 */
import native from '../lib/native.cjs';

export default native;
export type * from '../lib/native.cjs';
