/**
 * Split a shell line into words: whitespace separates, '...' and "..." quote, a backslash escapes
 * the next character (so `put my\ file.txt` works, and completion can escape names with spaces).
 */

export interface Tokens {
  /** The words, including the one under the cursor when the line does not end in a space. */
  readonly words: string[];
  /** Whether the line ends inside a word (then it is the last of `words`). */
  readonly endsInWord: boolean;
  /** The word under the cursor as typed (quotes and backslashes included), '' after a space. */
  readonly partialRaw: string;
  /** An unterminated quote. */
  readonly openQuote: boolean;
}

export function tokenize(line: string): Tokens {
  const words: string[] = [];
  let current = '';
  let raw = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  const take = (ch: string) => {
    current += ch;
    raw += ch;
  };
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    const next = line[i + 1];
    if (quote) {
      if (ch === quote) {
        quote = undefined;
        raw += ch;
      } else if (ch === '\\' && quote === '"' && next !== undefined) {
        raw += ch;
        take(next);
        i++;
      } else take(ch);
    } else if (ch === '\\') {
      inWord = true;
      raw += ch;
      if (next !== undefined) {
        take(next);
        i++;
      }
    } else if (ch === '"' || ch === "'") {
      inWord = true;
      quote = ch;
      raw += ch;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(current);
      current = '';
      raw = '';
      inWord = false;
    } else {
      inWord = true;
      take(ch);
    }
  }
  if (inWord) words.push(current);
  return { words, endsInWord: inWord, partialRaw: inWord ? raw : '', openQuote: quote !== undefined };
}

/** Escape a word for the shell line (completion results). */
export function escapeWord(word: string): string {
  return word.replace(/([\s\\'"])/g, '\\$1');
}
