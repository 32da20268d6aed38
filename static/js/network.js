/**
 * The network's layers as the page sees them, with no DOM: decoding the API's byte-quantised
 * activations, laying units out as maps or grids, and which units of the layer below feed a unit.
 * Layers are GET /api/models' own: {name, kind, shape, title}, with `kernel` (conv) or `size` (pool).
 */

const GRID_COLUMNS = [[10, 10], [128, 16], [Infinity, 32]]; // [up to n units, columns]

/** How a layer's units are drawn: `maps` images of `height` x `width` units each. */
export function layout(layer) {
  const { shape } = layer;
  if (shape.length === 3) return { maps: shape[0], height: shape[1], width: shape[2], grid: false };
  if (shape.length === 2) return { maps: 1, height: shape[0], width: shape[1], grid: false };
  const n = shape[0];
  const columns = GRID_COLUMNS.find(([limit]) => n <= limit)[1];
  return { maps: 1, height: Math.ceil(n / columns), width: columns, grid: true, count: n };
}

export function unitCount(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

/** A flat unit index -> its map and position in the layer's layout. */
export function unitAddress(geometry, index) {
  const perMap = geometry.height * geometry.width;
  const map = Math.floor(index / perMap);
  const rest = index % perMap;
  return { map, y: Math.floor(rest / geometry.width), x: rest % geometry.width };
}

export function unitIndex(geometry, { map, y, x }) {
  return (map * geometry.height + y) * geometry.width + x;
}

/** base64 -> Uint8Array */
export function decodeBytes(base64) {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** An API layer -> its bytes (for colours) and a function giving a unit's real value. */
export function decodeLayer(layer) {
  const bytes = decodeBytes(layer.data);
  const span = layer.max - layer.min;
  return { ...layer, bytes, value: (i) => layer.min + (bytes[i] / 255) * span };
}

/** The bits of the downsampled drawing ("0"/"1" characters) as bytes 0/255. */
export function bitsToBytes(bits) {
  const bytes = new Uint8Array(bits.length);
  for (let i = 0; i < bits.length; i++) bytes[i] = bits.charCodeAt(i) === 49 ? 255 : 0;
  return bytes;
}

/**
 * Which units of the layer below feed a unit, as rectangles on the lower layer's maps.
 * A convolution reads a k x k window (its `kernel`, one unit apart) on every map below; downsampling
 * reads an s x s window (its `size`, side by side) on its own map; a dense unit reads everything.
 */
export function receptiveField(layer, below, address) {
  const lower = layout(below);
  if (layer.kind === 'conv') {
    const k = layer.kernel;
    return Array.from({ length: lower.maps }, (_, map) => ({ map, x: address.x, y: address.y, w: k, h: k }));
  }
  if (layer.kind === 'pool') {
    const s = layer.size;
    return [{ map: address.map, x: address.x * s, y: address.y * s, w: s, h: s }];
  }
  return Array.from({ length: lower.maps }, (_, map) => ({ map, x: 0, y: 0, w: lower.width, h: lower.height }));
}

/** Whether the API has weights for a layer's units (pooling has none). */
export function hasWeights(layer) {
  return layer.kind === 'conv' || layer.kind === 'dense' || layer.kind === 'output';
}

/** The API's unit number for a unit: a conv unit is its whole feature map. */
export function weightUnit(layer, geometry, address) {
  return layer.kind === 'conv' ? address.map : unitIndex(geometry, address);
}

/** Indices of the `count` largest absolute values. */
export function strongest(values, count) {
  return Array.from(values.keys())
    .sort((a, b) => Math.abs(values[b]) - Math.abs(values[a]))
    .slice(0, count);
}
