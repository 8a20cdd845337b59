// The words of a runtime command (`vxtap fdb ...`, `vxtap neigh ...`) as a
// control request carries them (`args`): bounded, since anyone who may use
// the socket sends them, and quoted short in the errors that name them.

/** `s` quoted for a message, cut after `max` characters, since it came from the socket. */
export function quoteWord(s: unknown, max: number): string {
  const text = typeof s === 'string' ? s : JSON.stringify(s) ?? String(s);
  return `'${text.length > max ? `${text.slice(0, max)}...` : text}'`;
}

/**
 * `words` as strings when it is an array of at most `maxWords` strings of at
 * most `maxChars` characters each; otherwise `bad` is called with what is wrong
 * (and throws).
 */
export function commandWords(words: unknown, maxWords: number, maxChars: number, bad: (msg: string) => never): string[] {
  if (!Array.isArray(words)) return bad('expected the command\'s words as an array of strings (args)');
  if (words.length > maxWords) bad(`${words.length} words, more than the ${maxWords} a command has`);
  for (const w of words as unknown[]) {
    if (typeof w !== 'string') bad(`word ${quoteWord(w, maxChars)} is not a string`);
    if ((w as string).length > maxChars) bad(`word ${quoteWord(w, maxChars)} is longer than ${maxChars} characters`);
  }
  return words as string[];
}
