/**
 * Positional parameters for one statement: `param(value)` appends a value and returns its placeholder, so SQL
 * assembled from fragments still binds every value and never interpolates one.
 */
export class StatementParams {
  readonly values: unknown[] = [];
  param(value: unknown, type: string): string {
    this.values.push(value);
    return `$${this.values.length}::${type}`;
  }
}
