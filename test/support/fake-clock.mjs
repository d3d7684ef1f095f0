// Preloaded into a CLI child process (NODE_OPTIONS=--import) to run it as if it were FAKE_CLOCK_OFFSET_MS in the
// past or future: every Date the process makes is shifted, so the runs it records carry those times throughout —
// hashed, signed and stored — exactly as a run recorded back then would. Test support only.
const offset = Number(process.env.FAKE_CLOCK_OFFSET_MS ?? "0");
const RealDate = Date;
class ShiftedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(RealDate.now() + offset);
    else super(...args);
  }
  static now() {
    return RealDate.now() + offset;
  }
}
globalThis.Date = ShiftedDate;
