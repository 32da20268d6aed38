/**
 * "Wrong?" and "Right!" under the guess: the person who drew the digit says what it really is, and the
 * network's input for it is saved with that label (POST /api/corrections) to train the networks on.
 * One answer per drawing; drawing again starts afresh.
 */

import { saveCorrection } from './correction-api.js';

const STATE = { WAITING: 'waiting', READY: 'ready', SAVING: 'saving', SAVED: 'saved' };

export class CorrectionPanel {
  #root;
  #els;
  #save;
  #answer = null; // the prediction the buttons would correct or confirm

  /** @param {HTMLElement} root  the `#correct` block; @param {Function} save  posts one correction */
  constructor(root, { save = saveCorrection } = {}) {
    const byRole = (role) => root.querySelector(`[data-role="${role}"]`);
    this.#root = root;
    this.#save = save;
    this.#els = {
      open: byRole('open'),
      confirm: byRole('confirm'),
      digits: byRole('digits'),
      digitButtons: Array.from(root.querySelectorAll('[data-role="digit"]')),
      status: byRole('correct-status'),
    };
    this.#els.open.addEventListener('click', () => this.#toggle());
    this.#els.confirm.addEventListener('click', () => {
      if (this.#answer) this.#send(this.#answer.guesses[0].digit);
    });
    for (const button of this.#els.digitButtons) {
      button.addEventListener('click', () => this.#send(Number(button.dataset.digit)));
    }
    root.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && !this.#els.digits.hidden) {
        this.#close();
        this.#els.open.focus();
        event.stopPropagation();
      }
    });
    this.withdraw();
  }

  /** A guess for the drawing now on the pad: it may be corrected or confirmed. */
  offer(answer) {
    if (this.#state === STATE.SAVED && this.#answer?.input.bits === answer.input.bits) return;
    this.#answer = answer;
    this.#setState(STATE.READY);
    this.#els.confirm.textContent = `Right! It is a ${answer.guesses[0].digit}`;
    for (const button of this.#els.digitButtons) {
      const guessed = Number(button.dataset.digit) === answer.guesses[0].digit;
      button.setAttribute('aria-label', guessed ? `${button.dataset.digit}, the guess` : button.dataset.digit);
    }
  }

  /** The drawing changed or is gone: nothing to correct until the next guess. */
  withdraw() {
    this.#answer = null;
    this.#close();
    this.#setState(STATE.WAITING);
    this.#els.confirm.textContent = 'Right!';
    this.#say('');
  }

  get #state() {
    return this.#root.dataset.state;
  }

  #setState(state) {
    this.#root.dataset.state = state;
    const usable = state === STATE.READY;
    this.#els.open.setAttribute('aria-disabled', String(!usable));
    this.#els.confirm.setAttribute('aria-disabled', String(!usable));
    for (const button of this.#els.digitButtons) button.setAttribute('aria-disabled', String(!usable));
  }

  #toggle() {
    if (this.#state !== STATE.READY) return;
    if (this.#els.digits.hidden) {
      this.#els.digits.hidden = false;
      this.#els.open.setAttribute('aria-expanded', 'true');
      this.#els.digitButtons[0].focus();
    } else {
      this.#close();
    }
  }

  #close() {
    this.#els.digits.hidden = true;
    this.#els.open.setAttribute('aria-expanded', 'false');
  }

  async #send(label) {
    if (this.#state !== STATE.READY || !this.#answer) return;
    const answer = this.#answer;
    const guess = answer.guesses[0].digit;
    const hadFocus = this.#root.contains(document.activeElement);
    this.#setState(STATE.SAVING);
    this.#say('Saving…');
    try {
      await this.#save({ bits: answer.input.bits, label, model: answer.model, guess });
      if (this.#answer !== answer) return; // drawn over meanwhile: the message would be about another drawing
      this.#close();
      this.#setState(STATE.SAVED);
      const article = label === 8 ? 'an' : 'a';
      const thanks = label === guess ? `thanks for confirming the ${label}` : `thanks, it was ${article} ${label}`;
      this.#say(`Saved: ${thanks}`);
      if (hadFocus) this.#els.open.focus();
    } catch (error) {
      if (this.#answer !== answer) return;
      this.#setState(STATE.READY);
      this.#say(this.#problem(error), true);
    }
  }

  #problem(error) {
    if (error.code === 'too_many_requests') {
      const wait = error.retryAfter ? ` in ${error.retryAfter} seconds` : ' later';
      return `Not saved: many answers came from here just now. Try again${wait}.`;
    }
    return `Not saved: ${error.message}`;
  }

  #say(message, isError = false) {
    this.#els.status.textContent = message;
    this.#els.status.dataset.kind = isError ? 'error' : 'info';
  }
}
