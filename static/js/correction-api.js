/**
 * The corrections service as the pages use it: saving the digit a drawing really is, the counts, and the
 * operator's review calls, which carry the admin token as a header (never a cookie or a URL).
 */

import { ApiError } from './api.js';

const CORRECTIONS_URL = '/api/corrections';

async function answer(response) {
  if (response.status === 204) return null;
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new ApiError(response.status, body.code ?? 'http_error', body.detail ?? response.statusText);
    error.retryAfter = Number(response.headers.get('Retry-After')) || null;
    throw error;
  }
  return body;
}

/** Saves `label` for the network input `bits` (784 characters of 0 and 1) that `model` read as `guess`. */
export async function saveCorrection({ bits, label, model, guess }) {
  const response = await fetch(CORRECTIONS_URL, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ bits, label, model, guess }),
  });
  return answer(response);
}

export async function correctionStats() {
  return answer(await fetch(`${CORRECTIONS_URL}/stats`, { cache: 'no-store' }));
}

/** The admin API: `token` goes in the Authorization header of every call. */
export class ReviewApi {
  #token;

  constructor(token) {
    this.#token = token;
  }

  #headers() {
    return { Authorization: `Bearer ${this.#token}` };
  }

  /** The newest `limit` corrections (of one digit), with ids below `before`. */
  async list({ label = null, before = null, limit }) {
    const params = new URLSearchParams({ limit: String(limit) });
    if (label !== null) params.set('label', String(label));
    if (before !== null) params.set('before', String(before));
    return answer(await fetch(`${CORRECTIONS_URL}?${params}`, { headers: this.#headers(), cache: 'no-store' }));
  }

  async remove(id) {
    return answer(await fetch(`${CORRECTIONS_URL}/${id}`, { method: 'DELETE', headers: this.#headers() }));
  }
}

/** Draws a network input (784 characters of 0 and 1) on a 28x28 canvas: dark ink, clear background. */
export function drawBits(canvas, bits) {
  const side = Math.round(Math.sqrt(bits.length));
  canvas.width = side;
  canvas.height = side;
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(side, side);
  for (let i = 0; i < bits.length; i++) {
    if (bits[i] === '1') image.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}
