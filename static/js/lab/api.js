/** The training lab's API as the page uses it: start, ask about and stop a job, and follow its events. */

import { ApiError } from '../api.js';

const TRAINING_URL = '/api/training';
const FINAL = ['done', 'diverged', 'cancelled', 'error'];

async function readJson(response) {
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, body.code ?? 'http_error', body.detail ?? response.statusText);
  return body;
}

/** Starts (or joins, or replays) a run of these settings: the job. */
export async function startJob(settings) {
  const response = await fetch(TRAINING_URL, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(settings),
  });
  return readJson(response);
}

export async function jobStatus(id) {
  return readJson(await fetch(`${TRAINING_URL}/${encodeURIComponent(id)}`));
}

export async function stopJob(id) {
  return readJson(await fetch(`${TRAINING_URL}/${encodeURIComponent(id)}`, { method: 'DELETE' }));
}

/**
 * A job's events: `progress(data)` for each progress event, then `end(kind, data)` once, with kind done,
 * diverged, cancelled or error. EventSource reconnects by itself after a dropped connection, sending the
 * last id it saw, so nothing is missed or repeated; a stream that cannot be reopened ends as an error.
 */
export class JobEvents {
  #source;
  #ended = false;

  constructor(job, { progress, end }) {
    this.#source = new EventSource(job.events);
    this.#source.addEventListener('progress', (event) => progress(JSON.parse(event.data)));
    for (const kind of FINAL) {
      this.#source.addEventListener(kind, (event) => {
        // EventSource fires a plain `error` Event of its own when the connection drops: no data.
        if (!(event instanceof MessageEvent)) {
          if (this.#source.readyState === EventSource.CLOSED) this.#lost(job, end);
          return;
        }
        this.#finish();
        end(kind, JSON.parse(event.data));
      });
    }
  }

  async #lost(job, end) {
    if (this.#ended) return;
    this.#finish();
    try { // the stream is gone for good (the server restarted, the job expired): say how the job stands
      const status = await jobStatus(job.id);
      end(FINAL.includes(status.status) ? status.status : 'error', {
        detail: status.detail ?? 'The connection to the server was lost.', model: status.model, metrics: status.metrics,
      });
    } catch (error) {
      end('error', { detail: `The connection to the server was lost: ${error.message}` });
    }
  }

  #finish() {
    this.#ended = true;
    this.#source.close();
  }

  close() {
    this.#finish();
  }
}
