/**
 * The review page: asks for the admin token, shows the saved drawings grouped by the digit they were
 * labelled, and deletes the ones an operator finds wrong. The token lives in this module only.
 */

import { ReviewApi, correctionStats, drawBits } from './correction-api.js';

const config = JSON.parse(document.getElementById('review-config').textContent);
const byRole = (role) => document.querySelector(`[data-role="${role}"]`);
const els = {
  signIn: document.getElementById('review-sign-in'),
  token: document.getElementById('review-token'),
  list: document.getElementById('review-list'),
  digit: document.getElementById('review-digit'),
  refresh: byRole('refresh'),
  summary: byRole('summary'),
  groups: byRole('groups'),
  more: byRole('more'),
  status: byRole('status'),
};

let api = null;
let nextBefore = null;
let stats = null;
const groups = new Map(); // digit -> {section, heading, list}

function say(message) {
  els.status.textContent = message;
}

function chosenDigit() {
  return els.digit.value === '' ? null : Number(els.digit.value);
}

function percent(rate) {
  return rate === null ? 'none yet' : `${Math.round(rate * 100)}%`;
}

function headingText(digit) {
  const saved = stats?.by_label[String(digit)] ?? 0;
  return `${digit}: ${saved} saved, misread ${percent(stats?.misread_rate[String(digit)] ?? null)}`;
}

function group(digit) {
  if (!groups.has(digit)) {
    const section = document.createElement('section');
    section.className = 'review-group';
    const heading = document.createElement('h3');
    heading.id = `review-digit-${digit}`;
    heading.tabIndex = -1;
    section.setAttribute('aria-labelledby', heading.id);
    const list = document.createElement('ul');
    list.className = 'review-items';
    section.append(heading, list);
    // Sections stay in digit order whatever order the drawings arrive in.
    const after = [...groups.keys()].filter((d) => d > digit).sort((a, b) => a - b)[0];
    els.groups.insertBefore(section, after === undefined ? null : groups.get(after).section);
    groups.set(digit, { section, heading, list });
  }
  const entry = groups.get(digit);
  entry.heading.textContent = headingText(digit);
  return entry;
}

function describe(correction) {
  const [best] = correction.guesses;
  const read = correction.guess === null ? 'guess unknown' : `${correction.model} read ${correction.guess}`;
  const sure = best && best.digit === correction.guess ? ` (${Math.round(best.probability * 100)}%)` : '';
  return `${read}${sure}`;
}

function item(correction) {
  const li = document.createElement('li');
  li.className = 'review-item';
  li.dataset.id = String(correction.id);
  const figure = document.createElement('figure');
  const canvas = document.createElement('canvas');
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', `Drawing ${correction.id}, labelled ${correction.label}, ${describe(correction)}`);
  drawBits(canvas, correction.bits);
  const caption = document.createElement('figcaption');
  const when = document.createElement('time');
  when.dateTime = correction.created_at;
  when.textContent = new Date(correction.created_at).toLocaleString();
  caption.append(`#${correction.id} · ${describe(correction)}`, document.createElement('br'), when);
  figure.append(canvas, caption);
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.className = 'action danger';
  remove.textContent = 'Delete';
  remove.setAttribute('aria-label', `Delete drawing ${correction.id}, labelled ${correction.label}`);
  remove.addEventListener('click', () => removeItem(correction, li));
  li.append(figure, remove);
  return li;
}

async function removeItem(correction, li) {
  try {
    await api.remove(correction.id);
  } catch (error) {
    if (error.code !== 'unknown_correction') return failed(error);
  }
  const entry = groups.get(correction.label);
  const next = li.nextElementSibling ?? li.previousElementSibling;
  li.remove();
  if (stats) {
    stats.by_label[String(correction.label)] -= 1;
    stats.total -= 1;
  }
  entry.heading.textContent = headingText(correction.label);
  summarise();
  (next?.querySelector('button') ?? entry.heading).focus();
  say(`Deleted drawing ${correction.id}.`);
}

function summarise() {
  if (!stats) return;
  els.summary.textContent = `${stats.total} drawings saved, ${stats.confirmations} of them confirming the model's guess.`;
}

function failed(error) {
  if (error.code === 'unauthorized') {
    api = null;
    els.list.hidden = true;
    els.signIn.hidden = false;
    els.token.focus();
    say('That is not the admin token; try again.');
  } else {
    say(`The corrections could not be loaded: ${error.message}`);
  }
}

async function load({ append }) {
  const label = chosenDigit();
  try {
    const [page, counts] = await Promise.all([
      api.list({ label, before: append ? nextBefore : null, limit: config.page_size }),
      append ? Promise.resolve(stats) : correctionStats(),
    ]);
    stats = counts;
    if (!append) {
      groups.clear();
      els.groups.replaceChildren();
    }
    for (const correction of page.corrections) group(correction.label).list.append(item(correction));
    nextBefore = page.next_before;
    els.more.hidden = nextBefore === null;
    summarise();
    const shown = els.groups.querySelectorAll('.review-item').length;
    say(shown ? `Showing ${shown} drawings${label === null ? '' : ` of ${label}`}.` : 'No drawings saved yet.');
    return true;
  } catch (error) {
    failed(error);
    return false;
  }
}

els.signIn.addEventListener('submit', async (event) => {
  event.preventDefault();
  api = new ReviewApi(els.token.value.trim());
  say('Loading…');
  if (await load({ append: false })) {
    els.signIn.hidden = true;
    els.token.value = '';
    els.list.hidden = false;
    document.getElementById('review-list-title').focus();
  }
});
els.digit.addEventListener('change', () => load({ append: false }));
els.refresh.addEventListener('click', () => load({ append: false }));
els.more.addEventListener('click', () => load({ append: true }));
