/** The DigitPad service as the page uses it: predictions, explanations, a model's description, and what feeds and excites one unit. */

const PREDICT_URL = '/api/predict';
const EXPLAIN_URL = '/api/explain';
const TOP_K = 2;

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

async function readJson(response) {
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new ApiError(response.status, body.code ?? 'http_error', body.detail ?? response.statusText);
  }
  return body;
}

function canvasToPng(canvas) {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('The drawing could not be encoded.'))),
      'image/png');
  });
}

/** Posts a canvas as a PNG; the guesses, probabilities and every layer's activations. */
export async function predict(canvas, { model, signal }) {
  const body = await canvasToPng(canvas);
  const params = new URLSearchParams({ model, top_k: String(TOP_K), activations: 'true' });
  const response = await fetch(`${PREDICT_URL}?${params}`, {
    method: 'POST', body, signal, headers: { 'Content-Type': 'image/png' },
  });
  return readJson(response);
}

/** A model as GET /api/models describes it, for one that list leaves out (a model trained in the lab). */
export async function describeModel(name) {
  return readJson(await fetch(`/api/models/${encodeURIComponent(name)}`));
}

/** Attribution maps for the network's own input (`bits` of a prediction) and the given digits. */
export async function explain({ bits, model, digits, signal }) {
  const params = new URLSearchParams({ model, digits: digits.join(',') });
  const response = await fetch(`${EXPLAIN_URL}?${params}`, {
    method: 'POST', body: JSON.stringify({ bits }), signal, headers: { 'Content-Type': 'application/json' },
  });
  return readJson(response);
}

/** Answers of a GET on a unit's URL (`suffix` '' for its weights, '/stimuli' for its stimuli), fetched once each. */
export class UnitResource {
  #cache = new Map();
  #suffix;

  constructor(suffix = '') {
    this.#suffix = suffix;
  }

  get(model, layer, unit) {
    const key = `${model}/${layer}/${unit}`;
    if (!this.#cache.has(key)) {
      const url = `/api/models/${encodeURIComponent(model)}/layers/${encodeURIComponent(layer)}/units/${unit}${this.#suffix}`;
      const request = fetch(url).then(readJson);
      request.catch(() => this.#cache.delete(key)); // a failed fetch is retried next time
      this.#cache.set(key, request);
    }
    return this.#cache.get(key);
  }
}

/** The weights and bias feeding a unit, fetched once per model, layer and unit. */
export class UnitWeights extends UnitResource {}
