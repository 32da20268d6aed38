/**
 * One run's settings form: the network (its hidden layers, their units and activation, as the chosen
 * architecture allows, from the page config) and the training settings, read as the API's JSON.
 */

const NUMBERS = ['train_size', 'epochs', 'batch_size', 'learning_rate', 'momentum', 'dropout', 'seed'];
const INTEGERS = new Set(['train_size', 'epochs', 'batch_size', 'seed']);

export class RunForm extends EventTarget {
  #fieldset;
  #config;
  #field;

  constructor(fieldset, config) {
    super();
    this.#fieldset = fieldset;
    this.#config = config;
    this.#field = (name) => fieldset.querySelector(`[data-field="${name}"]`);
    this.architecture.addEventListener('change', () => this.#fitArchitecture());
    this.#field('layers').addEventListener('change', () => this.#showUnits());
    fieldset.querySelector('.fields').addEventListener('input', () => this.dispatchEvent(new Event('edit')));
    fieldset.querySelector('.fields').addEventListener('change', () => this.dispatchEvent(new Event('edit')));
    this.#fitArchitecture();
  }

  get architecture() { return this.#field('architecture'); }

  get enabled() { return !this.#fieldset.disabled; }

  set enabled(on) { this.#fieldset.disabled = !on; }

  /** A name shown beside the legend, e.g. a preset's "momentum 0.9". */
  set label(text) {
    this.#fieldset.querySelector('[data-role="label"]').textContent = text ? `: ${text}` : '';
  }

  #spec() {
    return this.#config.architectures.find((a) => a.name === this.architecture.value);
  }

  #fitArchitecture() {
    const spec = this.#spec();
    const [fewest, most] = spec.hidden_layers;
    const layers = this.#field('layers');
    const previous = Number(layers.value || spec.default_hidden.length);
    layers.replaceChildren(...Array.from({ length: most - fewest + 1 }, (_, i) => {
      const n = fewest + i;
      return new Option(n === 0 ? 'none' : String(n), String(n));
    }));
    layers.value = String(Math.min(Math.max(previous, fewest), most));
    if (most === 0) layers.value = '0';
    const activation = this.#field('activation');
    if (spec.default_activation && !activation.value) activation.value = spec.default_activation;
    this.#showUnits();
  }

  #showUnits() {
    const spec = this.#spec();
    const count = Number(this.#field('layers').value);
    const hasLayers = spec.hidden_layers[1] > 0;
    for (const role of ['layers-label']) this.#fieldset.querySelector(`[data-role="${role}"]`).hidden = !hasLayers;
    this.#field('layers').hidden = !hasLayers;
    this.#fieldset.querySelector('[data-role="units-label"]').hidden = count === 0;
    const units = this.#fieldset.querySelector('[data-role="units"]');
    units.hidden = count === 0;
    units.querySelectorAll('input').forEach((input, i) => { input.hidden = i >= count; });
    const activation = this.#field('activation');
    const noActivation = spec.default_activation === null;
    activation.hidden = noActivation;
    this.#fieldset.querySelector('[data-role="activation-label"]').hidden = noActivation;
  }

  /** The settings as POST /api/training takes them; null (and the browser's message shown) when one is invalid. */
  read() {
    const inputs = [...this.#fieldset.querySelectorAll('input:not([hidden]), select:not([hidden])')];
    const bad = inputs.find((input) => !input.checkValidity());
    if (bad) {
      bad.reportValidity();
      return null;
    }
    const spec = this.#spec();
    const settings = { architecture: spec.name };
    const count = Number(this.#field('layers').value);
    if (spec.hidden_layers[1] > 0) {
      settings.hidden = [...this.#fieldset.querySelectorAll('[data-field="units"]')].slice(0, count)
        .map((input) => Number(input.value));
    }
    if (spec.default_activation !== null) settings.activation = this.#field('activation').value;
    for (const name of NUMBERS) {
      const value = Number(this.#field(name).value);
      settings[name] = INTEGERS.has(name) ? Math.round(value) : value;
    }
    return settings;
  }

  /** Fills the form with settings as the server normalises them (a preset's, say). */
  write(settings) {
    this.architecture.value = settings.architecture;
    this.#field('layers').value = '';
    this.#fitArchitecture();
    const hidden = settings.hidden ?? [];
    this.#field('layers').value = String(hidden.length);
    this.#fieldset.querySelectorAll('[data-field="units"]').forEach((input, i) => {
      if (i < hidden.length) input.value = String(hidden[i]);
    });
    if (settings.activation) this.#field('activation').value = settings.activation;
    for (const name of NUMBERS) this.#field(name).value = String(settings[name]);
    this.#showUnits();
  }
}
