// Type-level assertions for the usage files (rhea.ts, consumer.ts): assertType<Equal<A, B>>()
// compiles only when A and B are the same type.

export type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
export function assertType<T extends true>(_ok?: T): void {}
