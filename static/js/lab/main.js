/**
 * The training lab: presets and settings for one run or two to compare, Start and Stop, the live curves,
 * weights and probabilities from each job's events, and at the end the results and "Draw with this model".
 */

import { JobEvents, jobStatus, startJob, stopJob } from './api.js';
import { LineChart } from './chart.js';
import { RunForm } from './form.js';
import { ProbeStrip, WeightsView, confusionTable, drawBits, element, misreadGrid, percent } from './views.js';

const QUEUE_POLL_MS = 1000; // while a job waits its turn, how often its place in the queue is asked for
const LIKELIHOOD_FLOOR = -5; // a diverging run's log-likelihood falls off the chart here
const ACTIVE = new Set(['queued', 'running']);

const config = JSON.parse(document.getElementById('page-config').textContent);
const els = {
  preset: document.getElementById('preset'),
  point: document.querySelector('[data-role="point"]'),
  form: document.getElementById('settings'),
  compare: document.querySelector('[data-role="compare"]'),
  start: document.getElementById('start'),
  stop: document.getElementById('stop'),
  status: document.getElementById('status'),
  progress: document.getElementById('progress-line'),
  weights: document.getElementById('weights'),
  strips: document.getElementById('probe-strips'),
  results: document.getElementById('results'),
  resultRuns: document.getElementById('result-runs'),
  likelihood: document.getElementById('likelihood-chart'),
  accuracy: document.getElementById('accuracy-chart'),
  legends: document.querySelectorAll('[data-role="legend"]'),
};
const presets = new Map(config.presets.map((p) => [p.id, p]));
drawBits(document.getElementById('probe-digit'), config.probe.bits);

const likelihood = new LineChart(els.likelihood, {
  x: { label: 'step', integer: true }, y: { max: 0, floor: LIKELIHOOD_FLOOR, label: 'log-likelihood', format: (v) => v.toFixed(1) },
});
const accuracy = new LineChart(els.accuracy, {
  x: { min: 0, label: 'epoch', integer: true }, y: { max: 1, label: 'accuracy', format: (v) => `${Math.round(v * 100)}%` },
});

function colour(key) {
  return getComputedStyle(document.body).getPropertyValue(`--run-${key}`).trim();
}

/** One of the two runs: its form, its job and what its events have said. */
class Run {
  constructor(key) {
    this.key = key;
    this.name = `Run ${key.toUpperCase()}`;
    this.form = new RunForm(document.getElementById(`run-${key}`), config);
    this.form.addEventListener('edit', () => {
      if (els.preset.value) choosePreset('');
    });
    this.label = '';
    this.reset();
  }

  reset() {
    this.events?.close();
    clearTimeout(this.poll);
    Object.assign(this, {
      job: null, events: null, state: 'idle', detail: '', settings: null, likelihood: [], train: [], validation: [],
      progress: null, done: null, queuePosition: null,
    });
    this.weightsView?.remove();
    this.strip?.remove();
    this.weightsView = this.strip = null;
  }

  get title() { return this.label ? `${this.name} (${this.label})` : this.name; }

  async start(settings) {
    this.reset();
    this.settings = settings;
    this.weightsView = new WeightsView(els.weights, `${this.title}: first layer`);
    this.strip = new ProbeStrip(els.strips, this.title, config.probe.label);
    this.state = 'queued';
    try {
      this.job = await startJob(settings);
    } catch (error) {
      this.fail(error.message);
      return;
    }
    this.state = ACTIVE.has(this.job.status) ? this.job.status : 'running';
    this.queuePosition = this.job.queue_position;
    if (this.job.status === 'queued') this.#pollQueue();
    this.events = new JobEvents(this.job, { progress: (data) => this.#progress(data), end: (kind, data) => this.#end(kind, data) });
    update();
  }

  async stop() {
    if (this.job && ACTIVE.has(this.state)) {
      try {
        await stopJob(this.job.id);
      } catch (error) {
        this.fail(`It could not be stopped: ${error.message}`);
      }
    }
  }

  fail(detail) {
    this.state = 'error';
    this.detail = detail;
    this.events?.close();
    update();
  }

  #pollQueue() {
    this.poll = setTimeout(async () => {
      if (this.state !== 'queued') return;
      try {
        const status = await jobStatus(this.job.id);
        if (this.state !== 'queued') return;
        this.queuePosition = status.queue_position;
        update();
      } catch { /* the events will tell */ }
      this.#pollQueue();
    }, QUEUE_POLL_MS);
  }

  #progress(data) {
    this.state = 'running';
    this.progress = data;
    this.likelihood.push([data.step, data.log_likelihood]);
    if (data.epoch_end) {
      this.train.push([data.epoch, data.train_accuracy]);
      this.validation.push([data.epoch, data.validation_accuracy]);
    }
    if (data.weights) this.weightsView.show(data.weights, this.settings.architecture);
    this.strip.add(data.probe);
    updateCharts();
    update(data.epoch_end);
  }

  #end(kind, data) {
    this.state = kind === 'cancelled' ? 'idle' : kind;
    this.detail = data.detail ?? '';
    this.stopped = kind === 'cancelled';
    if (kind === 'done') this.done = data;
    update(true);
    showResults();
  }

  describeProgress() {
    if (this.state === 'queued') {
      return this.queuePosition > 1 ? `waiting, ${this.queuePosition - 1} run(s) ahead` : 'waiting for its turn';
    }
    if (this.state === 'running' && this.progress) {
      const p = this.progress;
      const speed = p.examples_per_s ? `, ${p.examples_per_s.toLocaleString('en')} digits/s` : '';
      return `epoch ${p.epoch} of ${p.epochs}, step ${p.step.toLocaleString('en')} of ${p.steps.toLocaleString('en')}${speed}`;
    }
    if (this.state === 'running') return 'starting';
    if (this.state === 'done') return `${percent(this.done.metrics.validation.accuracy)} of the validation digits read right`;
    if (this.state === 'diverged') return `diverged. ${this.detail}`;
    if (this.state === 'error') return `failed. ${this.detail}`;
    return this.stopped ? 'stopped' : 'idle';
  }
}

const runs = [new Run('a'), new Run('b')];
const activeRuns = () => runs.filter((run) => run.job || run.state === 'error');

/** The page's state: any error, else training while any run is, else diverged if one did, else done. */
function overallState(list) {
  const states = list.map((run) => run.state);
  if (states.includes('error')) return 'error';
  if (states.includes('running')) return 'running';
  if (states.includes('queued')) return 'queued';
  if (states.includes('diverged')) return 'diverged';
  if (states.length && states.every((s) => s === 'done')) return 'done';
  return 'idle';
}

let spokenState = null;
/** The status (a live region) changes, and so speaks, when the state changes and at each epoch's end;
 * the progress line under it follows every step, silently. */
function update(milestone = false) {
  const list = activeRuns();
  const state = overallState(list);
  const busy = state === 'running' || state === 'queued';
  els.status.dataset.state = state;
  els.stop.disabled = !busy;
  els.start.disabled = busy;
  const lines = list.map((run) => `${list.length > 1 ? `${run.title}: ` : ''}${run.describeProgress().replace(/\.$/, '')}`);
  els.progress.textContent = busy ? lines.join(' · ') : '';
  if (!milestone && state === spokenState) return;
  spokenState = state;
  const heading = {
    idle: list.some((r) => r.stopped) ? 'Stopped' : 'Idle', queued: 'Queued', running: 'Training', done: 'Done',
    diverged: 'Diverged', error: 'Error',
  }[state];
  els.status.textContent = list.length ? `${heading}. ${lines.join('; ')}.` : 'Idle: choose a preset or your settings, then Start.';
}

function updateCharts() {
  const list = activeRuns();
  likelihood.series = list.map((run) => ({ label: run.title, colour: colour(run.key), dash: run.key === 'b' ? [6, 4] : [], points: run.likelihood }));
  accuracy.series = list.flatMap((run) => [
    { colour: colour(run.key), dash: [3, 3], points: run.train, markers: true, square: run.key === 'b' },
    { colour: colour(run.key), dash: [], points: run.validation, markers: true, square: run.key === 'b' },
  ]);
  const describe = (run) => {
    const ll = run.likelihood.at(-1);
    const val = run.validation.at(-1);
    return { ll: ll ? `${run.title} ${ll[1].toFixed(3)} at step ${ll[0]}` : `${run.title} no steps yet`,
      acc: val ? `${run.title} ${percent(val[1])} after epoch ${val[0]}` : `${run.title} no epoch yet` };
  };
  const texts = list.map(describe);
  els.likelihood.setAttribute('aria-label', `Log-likelihood per step: ${texts.map((t) => t.ll).join('; ') || 'no run yet'}`);
  els.accuracy.setAttribute('aria-label', `Validation accuracy per epoch: ${texts.map((t) => t.acc).join('; ') || 'no run yet'}`);
  const colourName = { a: 'blue', b: 'orange' };
  const legends = {
    likelihood: list.map((run) => `${run.title}: ${colourName[run.key]}, ${run.key === 'a' ? 'solid' : 'dashed'}`),
    accuracy: list.map((run) => `${run.title}: ${colourName[run.key]}, ${run.key === 'a' ? 'round' : 'square'} marks`),
  };
  for (const span of els.legends) {
    const legend = legends[span.dataset.chart].join('; ');
    span.textContent = legend ? `${legend}.` : '';
  }
}

function showResults() {
  const list = activeRuns();
  if (list.some((run) => ACTIVE.has(run.state))) return;
  const blocks = list.map((run, i) => {
    const block = element('section', { className: `result run-${run.key}`, 'aria-label': run.title }, [element('h3', { textContent: run.title })]);
    if (run.state !== 'done') {
      block.append(element('p', { textContent: run.state === 'idle' ? 'Stopped before the end.' : run.detail }));
      return block;
    }
    const { metrics, misread, model } = run.done;
    const figures = [
      ['Validation digits read right', percent(metrics.validation.accuracy)],
      ['Test digits read right', percent(metrics.test.accuracy)],
      ['Training digits read right (last epoch)', percent(metrics.train.accuracy)],
      ['Validation log-likelihood', metrics.validation.log_likelihood.toFixed(3)],
      ['Weights', metrics.parameters.toLocaleString('en')],
      ['Epochs, steps', `${metrics.epochs}, ${metrics.steps.toLocaleString('en')}`],
      ['Training time', `${metrics.wall_time_s.toFixed(1)} s${run.job.cached ? ' (replayed: trained before with these settings)' : ''}`],
    ];
    const drawLink = { href: `/?model=${encodeURIComponent(model)}`, className: 'button primary', textContent: 'Draw with this model' };
    const draw = i === 0 ? element('a', { ...drawLink, dataset: { testid: `train-draw` } }) : element('a', drawLink);
    const download = element('a', { href: run.job.model_file, download: `${model}.npz`, className: 'button', textContent: 'Download the model (.npz)' });
    block.append(
      element('div', { className: 'result-links' }, [draw, download]),
      element('dl', { className: 'figures' }, figures.flatMap(([k, v]) => [element('dt', { textContent: k }), element('dd', { textContent: v })])),
      confusionTable(metrics.validation.confusion, 'Validation digits: rows are the true digit, columns what the network read'),
      element('h4', { textContent: `Misread validation digits, the most confident mistakes first (${misread.length} shown)` }),
      misreadGrid(misread),
    );
    return block;
  });
  els.resultRuns.replaceChildren(...blocks);
  els.results.hidden = blocks.length === 0;
}

function choosePreset(id) {
  els.preset.value = id;
  const preset = presets.get(id);
  els.point.textContent = preset ? preset.point : 'Your own settings: change anything, then Start.';
  if (!preset) {
    runs.forEach((run) => { run.label = ''; run.form.label = ''; });
    return;
  }
  preset.runs.forEach(({ label, settings }, i) => {
    runs[i].form.write(settings);
    runs[i].label = label;
    runs[i].form.label = label;
  });
  els.compare.checked = preset.runs.length > 1;
  runs[1].form.enabled = els.compare.checked;
  if (preset.runs.length === 1) { runs[1].label = ''; runs[1].form.label = ''; }
}

els.preset.addEventListener('change', () => choosePreset(els.preset.value));
els.compare.addEventListener('change', () => { runs[1].form.enabled = els.compare.checked; });
els.form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const chosen = runs.filter((run) => run.form.enabled);
  const settings = chosen.map((run) => run.form.read());
  if (settings.includes(null)) return;
  runs.forEach((run) => run.reset());
  els.results.hidden = true;
  updateCharts();
  await Promise.all(chosen.map((run, i) => run.start(settings[i])));
  update(true);
});
els.stop.addEventListener('click', () => Promise.all(runs.map((run) => run.stop())));
window.addEventListener('pagehide', () => runs.forEach((run) => run.events?.close()));

updateCharts();
update();
