// Colour for a terminal: a status word painted as its meaning (pass green,
// fail and error red, skip yellow), only where the stream is a terminal and
// NO_COLOR is unset (no-color.org); files, pipes and KTAP stay plain.

const SGR: Readonly<Record<string, string>> = { pass: '32', fail: '31', error: '1;31', skip: '33', xfail: '36' };

/** Whether a stream gets colour: a terminal, and NO_COLOR unset or empty. */
export function colourFor(stream: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && !env['NO_COLOR'];
}

/** Paints every whole status word in text (pass, fail, error, skip, xfail) when on; a count of none ("0 fail") stays plain. */
export function paintStatuses(text: string, on: boolean): string {
  if (!on) return text;
  return text.replace(/(?<!\b0 )\b(pass|fail|error|skip|xfail)\b/g, (w) => `\x1b[${SGR[w]}m${w}\x1b[0m`);
}
