/** A structured logger. Lines go to stderr as JSON, and only when verbose output was asked for. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export function createLogger(enabled: boolean, bound: Record<string, unknown> = {}): Logger {
  const write = (level: string, message: string, fields?: Record<string, unknown>) => {
    if (!enabled) return;
    process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...bound, ...fields })}\n`);
  };
  return {
    debug: (message, fields) => write("debug", message, fields),
    info: (message, fields) => write("info", message, fields),
    warn: (message, fields) => write("warn", message, fields),
    child: (fields) => createLogger(enabled, { ...bound, ...fields }),
  };
}

export const silentLogger: Logger = createLogger(false);
