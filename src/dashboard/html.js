// htm bound to preact's h: JSX-like templates without a build step.
import htm from 'htm';
import { h } from 'preact';

export const html = htm.bind(h);

/** A duration in ms as people read it. */
export function ms(value) {
  if (value === null || value === undefined) return '–';
  if (value < 1) return `${value.toFixed(2)} ms`;
  if (value < 1000) return `${Math.round(value)} ms`;
  return `${(value / 1000).toFixed(2)} s`;
}

/** A time of day, to the second. */
export function clock(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : '–';
}
