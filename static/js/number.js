/**
 * Number mode's results: the number read out large with its confidence, a button per digit (its guess,
 * how sure, and "not sure" when it is not), the chosen digit's downsampled input and guesses, and every
 * digit boxed on the wide pad with its guess above it. Choosing a digit emits `select`, so the network
 * view can show that digit.
 */

import { element } from './dom.js';
import { LOW_CONFIDENCE, drawInput, percent } from './ui.js';

const unsure = (digit) => digit.guesses[0].probability < LOW_CONFIDENCE;

export class NumberView extends EventTarget {
  #els;
  #imageSize; // the image the pad sends, which the digits' boxes are in
  #answer = null;
  #selected = 0;

  /**
   * @param {object} els  lookUp()'s `number`
   * @param {{width: number, height: number}} imageSize
   */
  constructor(els, imageSize) {
    super();
    this.#els = els;
    this.#imageSize = imageSize;
  }

  /** The chosen digit of the answer shown, or null. */
  get selected() {
    return this.#answer?.digits[this.#selected] ?? null;
  }

  /** Nothing on the pad. */
  empty() {
    const els = this.#els;
    this.#answer = null;
    this.#state('empty', 'high');
    els.status.textContent = 'Write a number';
    els.text.textContent = '';
    els.confidence.textContent = '';
    els.digits.replaceChildren();
    els.boxes.replaceChildren();
    els.detail.hidden = true;
  }

  /** The drawing changed since the reading shown was made. */
  pending() {
    if (this.#els.results.dataset.state === 'empty') this.#els.status.textContent = 'Reading your number…';
    this.#els.results.dataset.state = 'pending';
  }

  error(message) {
    this.#els.results.dataset.state = 'pending';
    this.#els.status.textContent = message;
  }

  /** A reading of POST /api/read; `current` when it was made from the drawing now on the pad. */
  show(answer, current) {
    const els = this.#els;
    this.#answer = answer;
    if (this.#selected >= answer.digits.length) this.#selected = 0;
    const doubtful = answer.digits.flatMap((d, i) => (unsure(d) ? [i + 1] : []));
    this.#state(current ? 'done' : 'pending', doubtful.length ? 'low' : 'high');
    els.text.textContent = answer.text;
    els.confidence.textContent = `${percent(confidence(answer))} sure`;
    els.status.textContent = doubtful.length
      ? `Not sure of digit ${doubtful.join(', ')}: is it ${alternative(answer)}?`
      : `It reads ${answer.text}`;
    els.digits.replaceChildren(...answer.digits.map((digit, i) => this.#button(digit, i)));
    els.boxes.replaceChildren(...answer.digits.map((digit) => this.#box(digit)));
    this.#detail();
  }

  /** Chooses digit `index` (0 = leftmost): its input and guesses here, its layers in the network view. */
  select(index) {
    if (!this.#answer || index < 0 || index >= this.#answer.digits.length) return;
    this.#selected = index;
    this.#els.digits.querySelectorAll('button').forEach((button, i) => {
      button.setAttribute('aria-pressed', String(i === index));
    });
    this.#detail();
    this.dispatchEvent(new CustomEvent('select', { detail: this.selected }));
  }

  /** Says the reading once, when the drawing settles. */
  announce(answer) {
    const doubtful = answer.digits.filter(unsure).length;
    this.#els.announce.textContent = `The number reads ${answer.text.split('').join(' ')}, `
      + `${percent(confidence(answer))} sure${doubtful ? `; not sure of ${doubtful} of its digits` : ''}.`;
  }

  #button(digit, i) {
    const [first] = digit.guesses;
    const doubt = unsure(digit);
    const button = element('button', {
      type: 'button',
      dataset: { role: 'number-digit', testid: `number-digit-${i}`, unsure: String(doubt) },
      'aria-pressed': String(i === this.#selected),
      'aria-label': `Digit ${i + 1}: ${first.digit}, ${percent(first.probability)}${doubt ? ', not sure' : ''}`,
    }, [
      element('span', { className: 'digit-guess' }, [String(first.digit)]),
      element('span', { className: 'digit-probability' }, [percent(first.probability)]),
      ...(doubt ? [element('span', { className: 'digit-unsure' }, ['not sure'])] : []),
    ]);
    button.addEventListener('click', () => this.select(i));
    return element('li', {}, [button]);
  }

  #box(digit) {
    const { width, height } = this.#imageSize;
    const [x, y, w, h] = digit.box;
    const box = element('div', { className: 'digit-box', dataset: { unsure: String(unsure(digit)) } }, [
      element('span', { className: 'digit-box-label' }, [`${digit.prediction}${unsure(digit) ? '?' : ''}`]),
    ]);
    Object.assign(box.style, {
      left: `${(100 * x) / width}%`,
      top: `${(100 * y) / height}%`,
      width: `${(100 * w) / width}%`,
      height: `${(100 * h) / height}%`,
    });
    return box;
  }

  #detail() {
    const els = this.#els;
    const digit = this.selected;
    els.detail.hidden = !digit;
    if (!digit) return;
    const [first, second] = digit.guesses;
    els.caption.textContent = `Digit ${this.#selected + 1}, downsampled`;
    drawInput(els.downsampled, digit.input);
    els.firstGuess.textContent = String(first.digit);
    els.firstProbability.textContent = percent(first.probability);
    els.secondGuess.textContent = second ? String(second.digit) : '';
    els.secondProbability.textContent = second ? percent(second.probability) : '';
  }

  #state(state, level) {
    this.#els.results.dataset.state = state;
    this.#els.results.dataset.confidence = level;
  }
}

/** How sure the network is of the whole number: the product of each digit's top probability. */
function confidence(answer) {
  return answer.digits.reduce((product, digit) => product * digit.guesses[0].probability, 1);
}

/** The number with each doubtful digit's second guess in its place: the likeliest other reading. */
function alternative(answer) {
  return answer.digits.map((d) => String(unsure(d) && d.guesses[1] ? d.guesses[1].digit : d.prediction)).join('');
}
