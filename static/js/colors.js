/**
 * Colour scales readable with colour-blindness, as lookup tables: viridis (sequential, for
 * activations) and blue-white-orange (diverging, for weights that can be negative or positive).
 */

const VIRIDIS_STOPS = [
  '#440154', '#482475', '#414487', '#355f8d', '#2a788e', '#21918c',
  '#22a884', '#44bf70', '#7ad151', '#bddf26', '#fde725',
];
const DIVERGING_STOPS = ['#0b4f8a', '#4b8ac4', '#a9cbe8', '#f5f5f5', '#f6c08a', '#e07b1a', '#8f3f00'];

export const LUT_SIZE = 256;

function hexToRgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function buildLut(stops) {
  const rgb = stops.map(hexToRgb);
  const lut = new Uint8ClampedArray(LUT_SIZE * 3);
  for (let i = 0; i < LUT_SIZE; i++) {
    const t = (i / (LUT_SIZE - 1)) * (rgb.length - 1);
    const lo = Math.min(Math.floor(t), rgb.length - 2);
    const f = t - lo;
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = rgb[lo][c] + (rgb[lo + 1][c] - rgb[lo][c]) * f;
  }
  return lut;
}

export const SEQUENTIAL = buildLut(VIRIDIS_STOPS);
export const DIVERGING = buildLut(DIVERGING_STOPS);

/** CSS colour for t in [0, 1] on a lookup table. */
export function cssColour(lut, t) {
  const i = Math.round(Math.min(1, Math.max(0, t)) * (LUT_SIZE - 1)) * 3;
  return `rgb(${lut[i]} ${lut[i + 1]} ${lut[i + 2]})`;
}

/** Whether dark text reads better than light text on the colour at t. */
export function prefersDarkText(lut, t) {
  const i = Math.round(Math.min(1, Math.max(0, t)) * (LUT_SIZE - 1)) * 3;
  const luma = 0.299 * lut[i] + 0.587 * lut[i + 1] + 0.114 * lut[i + 2];
  return luma > 140;
}

/** A CSS linear-gradient of a whole lookup table, for legends. */
export function cssGradient(lut, steps = 12) {
  const parts = [];
  for (let s = 0; s <= steps; s++) parts.push(cssColour(lut, s / steps));
  return `linear-gradient(to right, ${parts.join(', ')})`;
}
