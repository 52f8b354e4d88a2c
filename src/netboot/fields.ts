/**
 * The last guard of the files a node reads at boot: a value written as one kernel argument, one
 * fstab field or one unit setting must stay one. The recipe refuses such values first, naming the
 * field; these writers refuse them again whoever calls them, so that no caller can add an argument
 * (`init=/bin/sh`) or a line (a second mount) by passing a path with white space in it.
 */
import { PibakeError } from '../errors.ts'

/** `text`, when it holds no white space and no control character; throws otherwise, saying what it is. */
export function oneField(text: string, what: string): string {
  if (text === '' || /[\s\x00-\x1f\x7f]/.test(text)) {
    const kind = /[\r\n]/.test(text) ? 'a line break' : text.includes(' ') ? 'a space' : text === '' ? 'nothing' : 'a tab or control character'
    throw new PibakeError(`${what} ${JSON.stringify(text)} holds ${kind}: written as it is, it would add an argument or a line`, 'give a value without white space (the recipe refuses such paths)')
  }
  return text
}
