/** The DigitPad service as the page uses it: predictions, explanations, a model's description, and what feeds and excites one unit. */

const PREDICT_URL = '/api/predict';
const READ_URL = '/api/read';
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

// The PNG the page posts: 8-bit grey + alpha (colour type 4), each row filter byte 0 (none).
const PNG_SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
const GREY_ALPHA = 4;
const ZLIB_HEADER = [0x78, 0x01]; // deflate with a 32 KB window, "fastest" level
const MAX_MATCH = 258; // deflate's longest repeat
const ADLER_BASE = 65521;
const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

function crc32(bytes) {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function reversed(code, bits) {
  let out = 0;
  for (let i = 0; i < bits; i++, code >>= 1) out = (out << 1) | (code & 1);
  return out;
}

// Deflate's fixed Huffman codes (RFC 1951, 3.2.6), bit-reversed for its least-significant-bit-first
// stream: a symbol's code and its length in bits.
const LITERAL_CODE = new Uint16Array(288);
const LITERAL_BITS = new Uint8Array(288);
for (let s = 0; s < 288; s++) {
  const [code, bits] = s < 144 ? [0x30 + s, 8] : s < 256 ? [0x190 + s - 144, 9] : s < 280 ? [s - 256, 7] : [0xc0 + s - 280, 8];
  LITERAL_CODE[s] = reversed(code, bits);
  LITERAL_BITS[s] = bits;
}
// A repeat of 3 to 258 bytes: its length symbol's code followed by the length's extra bits.
const LENGTH_CODE = new Uint16Array(MAX_MATCH + 1);
const LENGTH_BITS = new Uint8Array(MAX_MATCH + 1);
{
  const base = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
  const extra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
  for (let length = 3; length <= MAX_MATCH; length++) {
    const i = base.findLastIndex((b) => b <= length);
    LENGTH_CODE[length] = LITERAL_CODE[257 + i] | ((length - base[i]) << LITERAL_BITS[257 + i]);
    LENGTH_BITS[length] = LITERAL_BITS[257 + i] + extra[i];
  }
}
const DISTANCE_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
  2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];

/** How far back a repeat starts (1 to 32768) as [its code with the extra bits, their number of bits]. */
function distanceCode(distance) {
  const i = DISTANCE_BASE.findLastIndex((b) => b <= distance);
  const extra = Math.max(0, (i >> 1) - 1);
  return [reversed(i, 5) | ((distance - DISTANCE_BASE[i]) << 5), 5 + extra];
}

/**
 * zlib-format deflate, as a PNG's IDAT holds it, written at once on the calling thread. It codes only
 * repeats of the bytes `distances` back (the row above, say): an ink image is long runs of background and
 * solid ink, so this is nearly as small as a full compressor's output. Repeats from far back also inflate
 * three times faster than repeats of the last byte or two, which make every byte copied wait for the one
 * just written.
 * @param {Uint8Array} bytes
 * @param {number[]} distances  the candidates, the farthest first: a tie goes to the farther repeat
 * @param {number} checksum  the bytes' Adler-32
 * @param {(i: number) => number} repeatsUntil  where the bytes from `i` on that are already known to
 *   repeat those `distances[0]` back end (`i` itself for none): they are coded without being compared
 */
function deflate(bytes, distances, checksum, repeatsUntil) {
  const out = new Uint8Array(bytes.length + (bytes.length >> 3) + 16); // 9 bits a byte at worst
  out.set(ZLIB_HEADER);
  let at = ZLIB_HEADER.length;
  let buffer = 0;
  let count = 0;
  const put = (code, bits) => {
    buffer |= code << count;
    for (count += bits; count >= 8; count -= 8, buffer >>>= 8) out[at++] = buffer & 0xff;
  };
  const codes = distances.map(distanceCode);
  put(0b011, 3); // the last block, fixed codes
  const end = bytes.length;
  for (let i = 0; i < end;) {
    const stop = Math.min(end, i + MAX_MATCH);
    let length = Math.min(stop, repeatsUntil(i)) - i;
    let best = 0;
    for (let k = 0; k < distances.length && i + length < stop; k++) { // none can beat a repeat to `stop`
      const d = distances[k];
      if (d > i || bytes[i + length] !== bytes[i + length - d]) continue; // cannot beat the repeat found
      let j = i + (k === 0 ? length : 0);
      while (j < stop && bytes[j] === bytes[j - d]) j++;
      if (j - i > length) {
        length = j - i;
        best = k;
      }
    }
    if (length >= 3) {
      put(LENGTH_CODE[length], LENGTH_BITS[length]);
      put(codes[best][0], codes[best][1]);
      i += length;
    } else {
      put(LITERAL_CODE[bytes[i]], LITERAL_BITS[bytes[i]]);
      i++;
    }
  }
  put(LITERAL_CODE[256], LITERAL_BITS[256]); // end of block
  if (count > 0) out[at++] = buffer & 0xff;
  new DataView(out.buffer).setUint32(at, checksum);
  return out.subarray(0, at + 4);
}

/** A PNG chunk: length, type, data, and the CRC of type and data. */
function chunk(type, data) {
  const bytes = new Uint8Array(12 + data.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) bytes[4 + i] = type.charCodeAt(i);
  bytes.set(data, 8);
  view.setUint32(8 + data.length, crc32(bytes.subarray(4, 8 + data.length)));
  return bytes;
}

/**
 * A drawing's ink as a PNG: black, with the drawing's own alpha. The service reads a transparent drawing
 * by its alpha alone, so this gives it the very input the whole canvas would, from half the bytes.
 * Encoded here, at once, rather than by `canvas.toBlob`, which Chromium runs in idle time: a few
 * milliseconds while the page is busy, up to a second once it goes still, which is when the user is
 * waiting for the final guess. The bytes themselves, not a Blob: a Blob body goes through the browser's
 * blob storage before the request can start, 2 to 3 ms of every request in Chromium.
 *
 * The ink is as the pad's `snapshot` gives it: the pixels of a box around it, and where that lies in a
 * width x height image that is clear outside it. Only the box is read, and only where a row or the one
 * above it has ink are bytes compared: the rest is coded as repeats of the row above without looking.
 * @param {{pixels: ImageData, left: number, top: number, width: number, height: number}} ink
 * @returns {Uint8Array}
 */
export function inkPng({ pixels, left, top, width, height }) {
  const stride = 1 + 2 * width;
  const rows = new Uint8Array(stride * height); // per row: filter 0, then (grey 0, alpha) per pixel
  // The Adler-32 of the rows, from their ink alone: a is 1 and the sum of the bytes, b the sum of every
  // a along the way, so a byte k from the end (1 for the last) adds k times itself to b.
  let sum = 0;
  let weighted = 0;
  // Where each row's ink starts and ends, in the rows' bytes (-1 for a row without any).
  const first = new Int32Array(height).fill(-1);
  const last = new Int32Array(height).fill(-1);
  const { data, width: boxWidth, height: boxHeight } = pixels;
  for (let y = 0, from = 3; y < boxHeight; y++) {
    let start = -1;
    let stop = -1;
    for (let to = (top + y) * stride + 2 + 2 * left, end = to + 2 * boxWidth; to < end; to += 2, from += 4) {
      const alpha = data[from];
      if (alpha !== 0) {
        rows[to] = alpha;
        sum += alpha;
        weighted += alpha * (rows.length - to);
        if (start < 0) start = to;
        stop = to + 1;
      }
    }
    first[top + y] = start;
    last[top + y] = stop;
    weighted %= ADLER_BASE; // exact: a row's products stay far below 2 ** 53
  }
  const a = (1 + sum) % ADLER_BASE;
  const b = (rows.length + weighted) % ADLER_BASE;
  // Past the first row, a byte outside the ink of its row and of the row above is clear, as is the byte
  // above it: a repeat of the row above, known without looking. Each row's span to be looked at (its ink
  // and the row above's, as bytes of this row; -1 for none), and where the next one starts.
  const spanFrom = new Int32Array(height).fill(-1);
  const spanTo = new Int32Array(height).fill(-1);
  const nextSpan = new Int32Array(height + 1).fill(rows.length);
  for (let y = height - 1; y > 0; y--) {
    const here = first[y] >= 0;
    const above = first[y - 1] >= 0;
    if (here || above) {
      spanFrom[y] = Math.min(here ? first[y] : Infinity, above ? first[y - 1] + stride : Infinity);
      spanTo[y] = Math.max(last[y], above ? last[y - 1] + stride : -1);
      nextSpan[y] = spanFrom[y];
    } else {
      nextSpan[y] = nextSpan[y + 1];
    }
  }
  const repeatsUntil = (i) => {
    const y = Math.floor(i / stride);
    if (y === 0 || (i >= spanFrom[y] && i < spanTo[y])) return i;
    return i < spanFrom[y] ? spanFrom[y] : nextSpan[y + 1];
  };
  const header = new DataView(new ArrayBuffer(13));
  header.setUint32(0, width);
  header.setUint32(4, height);
  header.setUint8(8, 8); // bits per sample
  header.setUint8(9, GREY_ALPHA);
  const parts = [
    new Uint8Array(PNG_SIGNATURE),
    chunk('IHDR', new Uint8Array(header.buffer)),
    chunk('IDAT', deflate(rows, [stride, MAX_MATCH, 2, 1], ((b << 16) | a) >>> 0, repeatsUntil)),
    chunk('IEND', new Uint8Array()),
  ];
  const png = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  parts.reduce((at, part) => (png.set(part, at), at + part.length), 0);
  return png;
}

/** A POST of an image's bytes to `url` with the query `params`; its JSON answer. */
async function postImage(url, params, body, signal) {
  const response = await fetch(`${url}?${params}`, {
    method: 'POST', body, signal, headers: { 'Content-Type': 'image/png' },
  });
  return readJson(response);
}

const RETRY_SOCKET_MS = 10_000; // after a socket that never opened (a proxy without WebSockets), fetch only

/**
 * The service's live socket for one route (`/api/predict/live`, `/api/read/live`): each drawing a binary
 * message, each answer the POST's JSON, in the order they were sent. From a still page, a drawing's round
 * trip takes about half a fetch's in Chromium (`benchmarks/transport.py`). Until the socket is open,
 * and whenever it cannot be, a drawing goes by POST instead; one whose socket closes before it is
 * answered is posted again, so none is lost.
 */
class LiveSocket {
  #path;
  #channel = null; // {socket, query, waiting}: the socket for the current query and its unanswered drawings
  #failedAt = -Infinity;

  constructor(path) {
    this.#path = path;
    // A page with an open socket would be kept out of the back/forward cache: the next drawing reopens it.
    addEventListener('pagehide', () => {
      this.#channel?.socket.close(1000);
      this.#channel = null;
    });
  }

  /**
   * The answer to a drawing's bytes read with `params`.
   * @param {() => Promise<object>} post  the same drawing by POST, for when the socket cannot take it
   */
  send(body, params, signal, post) {
    const channel = this.#open(String(params));
    if (channel === null) return post();
    return new Promise((resolve, reject) => {
      const entry = { resolve, reject, post, done: false };
      signal?.addEventListener('abort', () => {
        entry.done = true; // its answer still comes, and is dropped
        reject(new DOMException('The request was aborted.', 'AbortError'));
      }, { once: true });
      channel.waiting.push(entry);
      channel.socket.send(body);
    });
  }

  /** The open channel for `query`, or null while it opens or cannot: a new query (model) needs a new one. */
  #open(query) {
    const current = this.#channel;
    if (current !== null && current.query === query) {
      return current.socket.readyState === WebSocket.OPEN ? current : null;
    }
    current?.socket.close(1000);
    this.#channel = null;
    if (typeof WebSocket !== 'function' || performance.now() - this.#failedAt < RETRY_SOCKET_MS) return null;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const channel = {
      socket: new WebSocket(`${scheme}//${location.host}${this.#path}?${query}`), query, waiting: [],
    };
    let opened = false;
    channel.socket.addEventListener('open', () => { opened = true; });
    channel.socket.addEventListener('message', (event) => answer(channel.waiting.shift(), event.data));
    channel.socket.addEventListener('close', () => {
      if (!opened) this.#failedAt = performance.now();
      if (this.#channel === channel) this.#channel = null;
      for (const entry of channel.waiting.splice(0).filter((e) => !e.done)) { // posted instead
        entry.done = true;
        entry.post().then(entry.resolve, entry.reject);
      }
    });
    this.#channel = channel;
    return null;
  }
}

/** Settles a drawing's promise with the socket's answer to it: the POST's JSON, or its error. */
function answer(entry, data) {
  if (!entry || entry.done) return;
  entry.done = true;
  const body = JSON.parse(data);
  if ('code' in body && 'status' in body) entry.reject(new ApiError(body.status, body.code, body.detail));
  else entry.resolve(body);
}

/** Sends a drawing's pixels as a PNG of its ink to `url`'s live socket, or posts it; with every layer's
 * activations. */
function drawingRoute(url) {
  const socket = new LiveSocket(`${url}/live`);
  return async (image, { model, signal }) => {
    const body = inkPng(image);
    const params = new URLSearchParams({ model, top_k: String(TOP_K), activations: 'true' });
    return socket.send(body, params, signal, () => postImage(url, params, body, signal));
  };
}

/** A drawing's guesses, probabilities and every layer's activations: `predict(image, { model, signal })`. */
export const predict = drawingRoute(PREDICT_URL);

/** A whole number's text and, for each digit left to right, its box in the image's pixels, guesses, input
 * and every layer's activations: `readNumber(image, { model, signal })`. */
export const readNumber = drawingRoute(READ_URL);

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
