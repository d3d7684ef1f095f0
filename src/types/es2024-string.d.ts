// String.prototype.isWellFormed (ES2024) is in Node 20 (V8 11.3), but not in TypeScript's ES2023 library, which
// this project targets so that nothing newer than Node 20 type-checks. Only this method is declared.
interface String {
  /** False when the string holds a lone surrogate (a UTF-16 code unit that UTF-8 cannot encode). */
  isWellFormed(): boolean;
}
