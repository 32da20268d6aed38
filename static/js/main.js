/**
 * Wires the pads, the live guessers, the results, the explanations, the network view, the model switch and
 * the corrections together. Two modes, each with its own pad and drawing: one digit (POST /api/predict) and
 * a whole number (POST /api/read), whose chosen digit the network view shows.
 */

import { UnitResource, UnitWeights, describeModel, explain, predict, readNumber } from './api.js';
import { CorrectionPanel } from './corrections.js';
import { afterPaint } from './dom.js';
import { Explainer, WhyView } from './explain.js';
import { LiveGuesser } from './guesser.js';
import { DIVERGING, SEQUENTIAL, cssGradient } from './colors.js';
import { hasWeights, strongest, weightUnit } from './network.js';
import { NetworkView } from './network-view.js';
import { NumberView } from './number.js';
import { DrawingPad, TOOLS } from './pad.js';
import { StimuliView, stimulusUnit } from './stimuli.js';
import { ResultsView, lookUp } from './ui.js';
import { UnitDetail } from './unit-detail.js';

const STRONGEST_SHOWN = 8; // inputs outlined for a dense unit: enough to see a pattern, few enough to read

const els = lookUp();
const { config } = els;
const models = new Map(config.models.map((m) => [m.name, m]));
let model = els.model.value || config.default_model;
let mode = 'digit';

const ink = {
  penWidth: config.pad.pen_width,
  inkAlpha: config.pad.ink_alpha,
  minExtent: config.pad.min_extent,
  minExtentPx: config.pad.min_extent_px,
};
const pad = new DrawingPad(els.pad, { size: config.pad.size, ...ink });
const numberPad = new DrawingPad(els.numberPad, { width: config.number.width, height: config.number.height, ...ink });
const pads = { digit: pad, number: numberPad };
els.numberPad.style.aspectRatio = `${config.number.width} / ${config.number.height}`; // the image it sends
const activePad = () => pads[mode];
const results = new ResultsView(els);
const numberView = new NumberView(els.number, numberPad.imageSize);
const view = new NetworkView(els.layers);
const detail = new UnitDetail(els.unitDetail);
const weights = new UnitWeights();
const correction = config.corrections && els.correct ? new CorrectionPanel(els.correct) : null;
const stimuli = new UnitResource('/stimuli');
const stimuliView = new StimuliView(els.unitDetail.querySelector('[data-role="stimuli"]'));
const why = new WhyView(els.why, els.whyOverlay);
const explainer = new Explainer(explain);
// A bottom sheet covers the lower part of a narrow screen: a unit chosen there is scrolled above it.
const sheetLayout = window.matchMedia('(max-width: 899px)');

/** Explains a settled guess once it is on screen, so the guess never waits for its explanation: the
 * request is neither made in the task that shows the guess nor ahead of its paint. */
async function explainGuess(answer, request) {
  if (!guesser.isCurrent(request)) return; // drawn on since: not asked
  try {
    const explanation = await explainer.explain(answer, request.model);
    if (explanation && guesser.isCurrent(request)) why.show(explanation);
  } catch (error) {
    why.error(error.message);
  }
}

/** What a guesser asks of a pad: its drawing now, with the model, and whether a request is of that still. */
function requestsOf(drawn) {
  return {
    capture() {
      const image = drawn.snapshot();
      return image && { image, version: drawn.version, model };
    },
    current: (request) => request.version === drawn.version && request.model === model,
  };
}

const guesser = new LiveGuesser({
  ...requestsOf(pad),
  send: (request, signal) => predict(request.image, { model: request.model, signal }),
  on: {
    pending() {
      results.pending();
      explainer.cancel();
      why.stale();
    },
    blank() {
      results.empty();
      if (mode === 'digit') view.clear();
      correction?.withdraw();
      explainer.cancel();
      why.clear();
    },
    result(answer, request) {
      const current = guesser.isCurrent(request);
      results.show(answer, current);
      if (request.model === model && mode === 'digit') view.update(answer.layers ?? []);
      if (current && !pad.drawing) {
        results.announce(answer);
        correction?.offer(answer);
        afterPaint(() => explainGuess(answer, request));
      }
    },
    error(error) {
      correction?.withdraw();
      if (error.code === 'empty_drawing') {
        results.empty();
        if (mode === 'digit') view.clear();
        why.clear();
      } else {
        results.error(`No guess: ${error.message}`);
      }
    },
  },
});

const numberGuesser = new LiveGuesser({
  ...requestsOf(numberPad),
  send: (request, signal) => readNumber(request.image, { model: request.model, signal }),
  on: {
    pending: () => numberView.pending(),
    blank() {
      numberView.empty();
      if (mode === 'number') view.clear();
    },
    result(answer, request) {
      const current = numberGuesser.isCurrent(request);
      numberView.show(answer, current);
      if (request.model === model && mode === 'number') view.update(numberView.selected?.layers ?? []);
      if (current && !numberPad.drawing) numberView.announce(answer);
    },
    error(error) {
      if (error.code === 'empty_drawing') {
        numberView.empty();
        if (mode === 'number') view.clear();
      } else {
        numberView.error(`No reading: ${error.message}`);
      }
    },
  },
});
const guessers = { digit: guesser, number: numberGuesser };

numberView.addEventListener('select', ({ detail: digit }) => {
  if (mode === 'number') view.update(digit?.layers ?? []);
});

function syncTools() {
  const active = activePad();
  els.tools.pencil.setAttribute('aria-pressed', String(active.tool === TOOLS.PENCIL));
  els.tools.eraser.setAttribute('aria-pressed', String(active.tool === TOOLS.ERASER));
  els.tools.undo.setAttribute('aria-disabled', String(!active.canUndo));
}

/** One digit or a whole number: each mode keeps its own drawing, read again with the model now chosen. */
function switchMode(next) {
  mode = next;
  els.workspace.dataset.mode = mode;
  for (const name of Object.keys(pads)) {
    const on = name === mode;
    els.modes[name].setAttribute('aria-pressed', String(on));
    els.titles[name].hidden = !on;
    els.frames[name].hidden = !on;
  }
  els.results.hidden = mode !== 'digit';
  els.number.results.hidden = mode !== 'number';
  view.clear();
  detail.reset();
  syncTools();
  guessers[mode].settle();
}

function switchModel(name) {
  model = models.has(name) ? name : config.default_model;
  els.model.value = model;
  els.modelDescription.textContent = `${models.get(model).title}: ${models.get(model).description}`;
  view.build(models.get(model));
  detail.reset();
  correction?.withdraw();
  stimuliView.reset();
  shownStimuli = null;
  guessers[mode].settle();
}

/** On a narrow screen, scrolls the chosen unit into the part of the screen the sheet leaves free. */
function keepAboveSheet() {
  if (!sheetLayout.matches || !detail.isOpen) return;
  const unit = els.layers.querySelector('.mark.selected, .digit-cell.selected');
  if (!unit) return;
  const box = unit.getBoundingClientRect();
  const free = els.unitDetail.getBoundingClientRect().top;
  const margin = 12;
  if (box.bottom > free - margin) window.scrollBy({ top: box.bottom - free + margin, behavior: 'instant' });
  else if (box.top < margin) window.scrollBy({ top: box.top - margin, behavior: 'instant' });
}

async function showStimuli(selection, key) {
  if (selection.layer.kind === 'input') {
    stimuliView.reset();
    return;
  }
  stimuliView.loading();
  const unit = stimulusUnit(selection.layer, selection.geometry, selection.address);
  try {
    const found = await stimuli.get(model, selection.layer.name, unit);
    if (key === selectedKey) stimuliView.show(found, selection.layer.kind === 'output' ? String(unit) : null);
  } catch (error) {
    if (key === selectedKey) stimuliView.error(`What this unit learned cannot be shown: ${error.message}`);
  }
}

// A unit's weights and stimuli arrive asynchronously; only the latest selection's are shown.
let selectedKey = null;
let shownStimuli = null; // the feature map or unit whose stimuli are shown: all positions of a map share them
view.addEventListener('select', async ({ detail: selection }) => {
  const key = `${model}/${selection.layer.name}/${selection.index}`;
  const sameUnit = key === selectedKey;
  selectedKey = key;
  if (sameUnit) detail.setValue(selection.value);
  else {
    detail.show(selection);
    const stimulusKey = `${model}/${selection.layer.name}/${stimulusUnit(selection.layer, selection.geometry, selection.address)}`;
    if (stimulusKey !== shownStimuli) {
      shownStimuli = stimulusKey;
      showStimuli(selection, key);
    }
  }
  keepAboveSheet();
  if (!hasWeights(selection.layer)) return;
  try {
    const unit = await weights.get(model, selection.layer.name, weightUnit(selection.layer, selection.geometry, selection.address));
    if (key !== selectedKey) return;
    if (!sameUnit) detail.showWeights(selection, unit);
    if (selection.layer.kind !== 'conv' && selection.below?.kind !== 'input') {
      view.markStrongest(selection, strongest(unit.weights, STRONGEST_SHOWN), unit.weights);
    }
  } catch (error) {
    if (key === selectedKey) detail.showError(`The weights could not be loaded: ${error.message}`);
  }
});

els.unitDetail.addEventListener('close', ({ detail: { hadFocus } }) => {
  selectedKey = null;
  shownStimuli = null;
  detail.reset();
  stimuliView.reset();
  if (hadFocus) document.getElementById('network-title').focus();
});

for (const [name, drawn] of Object.entries(pads)) {
  const live = guessers[name];
  const shown = name === 'digit' ? results : numberView;
  // A correction belongs to the digit pad's guess: any change to that drawing withdraws the offer.
  const withdraw = name === 'digit' ? () => correction?.withdraw() : () => {};
  drawn.addEventListener('strokestart', () => {
    syncTools();
    withdraw();
    shown.pending();
    live.changed();
  });
  drawn.addEventListener('strokechange', () => live.changed());
  drawn.addEventListener('strokeend', () => live.settle());
  drawn.addEventListener('change', () => {
    syncTools();
    withdraw();
    live.settle();
  });
  drawn.addEventListener('toolchange', syncTools);
}

els.tools.pencil.addEventListener('click', () => { activePad().tool = TOOLS.PENCIL; });
els.tools.eraser.addEventListener('click', () => { activePad().tool = TOOLS.ERASER; });
els.tools.undo.addEventListener('click', () => activePad().undo());
els.tools.clear.addEventListener('click', () => activePad().clear());
els.model.addEventListener('change', () => switchModel(els.model.value));
els.modes.digit.addEventListener('click', () => { if (mode !== 'digit') switchMode('digit'); });
els.modes.number.addEventListener('click', () => { if (mode !== 'number') switchMode('number'); });

document.addEventListener('keydown', (event) => {
  const target = event.target;
  if (event.key === 'Escape' && detail.isOpen) {
    detail.close();
    event.preventDefault();
    return;
  }
  if (event.altKey || target.closest?.('input, select, textarea, [contenteditable="true"]')) return;
  const key = event.key.toLowerCase();
  const command = event.ctrlKey || event.metaKey;
  const active = activePad();
  if (command && key === 'z' && !event.shiftKey) active.undo();
  else if (command || event.shiftKey) return;
  else if (key === 'p') active.tool = TOOLS.PENCIL;
  else if (key === 'e') active.tool = TOOLS.ERASER;
  else if (key === 'delete' || key === 'backspace' || key === 'c') active.clear();
  else return;
  event.preventDefault();
});

for (const [bars, lut] of [[els.scales.sequential, SEQUENTIAL], [els.scales.diverging, DIVERGING]]) {
  for (const bar of bars) bar.style.backgroundImage = cssGradient(lut);
}
/** A model named in the address (`/?model=lab-...`, from the training lab): selected even when it is not
 * one of the shipped ones, once the server has described it. */
async function modelFromAddress() {
  const wanted = new URLSearchParams(window.location.search).get('model');
  if (!wanted || models.has(wanted)) return wanted;
  try {
    const described = await describeModel(wanted);
    models.set(described.name, described);
    const accuracy = described.test_accuracy ? ` (${(described.test_accuracy * 100).toFixed(1)}%)` : '';
    els.model.append(new Option(`${described.title}${accuracy}`, described.name));
    return described.name;
  } catch (error) {
    results.error(`The model ${wanted} is not here: ${error.message}`);
    return null;
  }
}

detail.reset();
why.clear();
syncTools();
switchModel(model);
modelFromAddress().then((wanted) => {
  if (wanted && wanted !== model) switchModel(wanted);
});
