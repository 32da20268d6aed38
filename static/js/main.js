/** Wires the pad, the live guesser, the results, the explanations, the network view and the model switch together. */

import { UnitResource, UnitWeights, describeModel, explain, predict } from './api.js';
import { Explainer, WhyView } from './explain.js';
import { LiveGuesser } from './guesser.js';
import { DIVERGING, SEQUENTIAL, cssGradient } from './colors.js';
import { hasWeights, strongest, weightUnit } from './network.js';
import { NetworkView } from './network-view.js';
import { DrawingPad, TOOLS } from './pad.js';
import { StimuliView, stimulusUnit } from './stimuli.js';
import { ResultsView, lookUp } from './ui.js';
import { UnitDetail } from './unit-detail.js';

const STRONGEST_SHOWN = 8; // inputs outlined for a dense unit: enough to see a pattern, few enough to read

const els = lookUp();
const { config } = els;
const models = new Map(config.models.map((m) => [m.name, m]));
let model = els.model.value || config.default_model;

const pad = new DrawingPad(els.pad, {
  size: config.pad.size,
  penWidth: config.pad.pen_width,
  inkAlpha: config.pad.ink_alpha,
  minExtent: config.pad.min_extent,
  minExtentPx: config.pad.min_extent_px,
});
const results = new ResultsView(els);
const view = new NetworkView(els.layers);
const detail = new UnitDetail(els.unitDetail);
const weights = new UnitWeights();
const stimuli = new UnitResource('/stimuli');
const stimuliView = new StimuliView(els.unitDetail.querySelector('[data-role="stimuli"]'));
const why = new WhyView(els.why, els.whyOverlay);
const explainer = new Explainer(explain);
// A bottom sheet covers the lower part of a narrow screen: a unit chosen there is scrolled above it.
const sheetLayout = window.matchMedia('(max-width: 899px)');

/** Explains a settled guess right after it arrives, so the live guess never waits for it. */
async function explainGuess(answer, request) {
  try {
    const explanation = await explainer.explain(answer, request.model);
    if (explanation && request.version === pad.version && request.model === model) why.show(explanation);
  } catch (error) {
    why.error(error.message);
  }
}

const guesser = new LiveGuesser({
  capture() {
    const canvas = pad.snapshot();
    return canvas && { canvas, version: pad.version, model };
  },
  send: (request, signal) => predict(request.canvas, { model: request.model, signal }),
  on: {
    pending() {
      results.pending();
      explainer.cancel();
      why.stale();
    },
    blank() {
      results.empty();
      view.clear();
      explainer.cancel();
      why.clear();
    },
    result(answer, request) {
      const current = request.version === pad.version && request.model === model;
      results.show(answer, current);
      if (request.model === model) view.update(answer.layers ?? []);
      if (current && !pad.drawing) {
        results.announce(answer);
        explainGuess(answer, request);
      }
    },
    error(error) {
      if (error.code === 'empty_drawing') {
        results.empty();
        view.clear();
        why.clear();
      } else {
        results.error(`No guess: ${error.message}`);
      }
    },
  },
});

function syncTools() {
  els.tools.pencil.setAttribute('aria-pressed', String(pad.tool === TOOLS.PENCIL));
  els.tools.eraser.setAttribute('aria-pressed', String(pad.tool === TOOLS.ERASER));
  els.tools.undo.setAttribute('aria-disabled', String(!pad.canUndo));
}

function switchModel(name) {
  model = models.has(name) ? name : config.default_model;
  els.model.value = model;
  els.modelDescription.textContent = `${models.get(model).title}: ${models.get(model).description}`;
  view.build(models.get(model));
  detail.reset();
  stimuliView.reset();
  shownStimuli = null;
  guesser.settle();
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

pad.addEventListener('strokestart', () => {
  syncTools();
  results.pending();
  guesser.changed();
});
pad.addEventListener('strokechange', () => guesser.changed());
pad.addEventListener('strokeend', () => guesser.settle());
pad.addEventListener('change', () => {
  syncTools();
  guesser.settle();
});
pad.addEventListener('toolchange', syncTools);

els.tools.pencil.addEventListener('click', () => { pad.tool = TOOLS.PENCIL; });
els.tools.eraser.addEventListener('click', () => { pad.tool = TOOLS.ERASER; });
els.tools.undo.addEventListener('click', () => pad.undo());
els.tools.clear.addEventListener('click', () => pad.clear());
els.model.addEventListener('change', () => switchModel(els.model.value));

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
  if (command && key === 'z' && !event.shiftKey) pad.undo();
  else if (command || event.shiftKey) return;
  else if (key === 'p') pad.tool = TOOLS.PENCIL;
  else if (key === 'e') pad.tool = TOOLS.ERASER;
  else if (key === 'delete' || key === 'backspace' || key === 'c') pad.clear();
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
