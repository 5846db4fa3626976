/**
 * vega-lite's types are reached through its package exports only, which this project's
 * moduleResolution (node) does not read: the one function the report uses, typed by hand.
 */
declare module 'vega-lite' {
  export function compile(spec: unknown): { spec: import('vega').Spec };
}
