// A small time-series chart on a <canvas>: lines or stacked areas over the
// last `windowSeconds`, "nice" y ticks, labelled axes and a legend. Sharp on
// high-DPI screens; redraws itself when its box is resized.

const FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
const SMALL = '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
const AXIS = '#6b7280';
const GRID = '#e5e7eb';
const TEXT = '#374151';

/** A round step near range / count: 1, 2, 2.5 or 5 times a power of ten. */
function niceStep(range, count) {
  const raw = range / Math.max(1, count);
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

/** 1234567 → "1.23M", 12345 → "12.3k", 0.5 → "0.5". */
export function compact(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a === 0) return '0';
  return `${+v.toPrecision(3)}`;
}

export class TimeChart {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{ yLabel: string, xLabel?: string, stacked?: boolean, yMin?: number, yMax?: number,
   *           windowSeconds?: number, format?: (v: number) => string, legend?: boolean }} options
   *   yMax: a fixed top (e.g. 1 for a ratio); absent: fits the data.
   */
  constructor(canvas, options) {
    this.canvas = canvas;
    this.o = { xLabel: 'seconds ago', stacked: false, yMin: 0, windowSeconds: 60, format: compact, legend: true, ...options };
    this.data = { now: 0, times: [], series: [] };
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  /**
   * @param {{ now: number, times: number[], series: { name: string, color: string, values: (number|null)[] }[] }} data
   *   times in seconds (same clock as now); each series has one value per time (null: absent then).
   */
  update(data) {
    this.data = data;
    this.draw();
  }

  draw() {
    const { canvas, o } = this;
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    if (w === 0 || h === 0) return;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);

    const { now, times, series } = this.data;
    const visible = series.filter((s) => s.values.some((v) => v !== null));

    // Stacked: each series drawn on top of the ones before it (bases[k][i]:
    // the sum of the series below k at time i that are present then).
    const tops = visible.map((s) => s.values.slice());
    const bases = visible.map((s) => s.values.map(() => o.yMin));
    if (o.stacked) {
      for (let i = 0; i < times.length; i++) {
        let acc = 0;
        tops.forEach((t, k) => {
          bases[k][i] = acc;
          if (t[i] !== null) {
            acc += t[i];
            t[i] = acc;
          }
        });
      }
    }

    // Y range and ticks.
    let hi = o.yMax ?? 0;
    if (o.yMax === undefined) for (const t of tops) for (const v of t) if (v !== null && v > hi) hi = v;
    if (!(hi > o.yMin)) hi = o.yMin + 1;
    const step = niceStep(hi - o.yMin, 4);
    const top = o.yMax ?? Math.ceil(hi / step) * step;
    const ticks = [];
    for (let v = o.yMin; v <= top + step * 1e-9; v += step) ticks.push(v);

    // Plot box: room for tick labels and axis titles, and the legend on top.
    g.font = SMALL;
    const labelWidth = Math.max(...ticks.map((v) => g.measureText(o.format(v)).width));
    const left = 22 + labelWidth + 6;
    const right = w - 12;
    const legendH = o.legend && visible.length > 0 ? 20 : 6;
    const plotTop = legendH + 6;
    const bottom = h - 34;
    const pw = right - left;
    const ph = bottom - plotTop;
    const x = (t) => left + pw * (1 - (now - t) / o.windowSeconds);
    const y = (v) => bottom - (ph * (v - o.yMin)) / (top - o.yMin);

    // Grid and y ticks.
    g.lineWidth = 1;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (const v of ticks) {
      const yy = Math.round(y(v)) + 0.5;
      g.strokeStyle = GRID;
      g.beginPath();
      g.moveTo(left, yy);
      g.lineTo(right, yy);
      g.stroke();
      g.fillStyle = AXIS;
      g.fillText(o.format(v), left - 6, yy);
    }
    // X ticks: about six, on round numbers of seconds.
    g.textAlign = 'center';
    g.textBaseline = 'top';
    const xStep = [1, 2, 5, 10, 15, 30, 60, 120, 300].find((d) => o.windowSeconds / d <= 7) ?? 600;
    for (let s = 0; s <= o.windowSeconds + 1e-9; s += xStep) {
      const xx = Math.round(left + pw * (1 - s / o.windowSeconds)) + 0.5;
      g.strokeStyle = GRID;
      g.beginPath();
      g.moveTo(xx, plotTop);
      g.lineTo(xx, bottom);
      g.stroke();
      g.fillStyle = AXIS;
      g.fillText(s === 0 ? 'now' : `−${s}`, xx, bottom + 5);
    }
    // Axes and their titles.
    g.strokeStyle = AXIS;
    g.beginPath();
    g.moveTo(left + 0.5, plotTop);
    g.lineTo(left + 0.5, bottom + 0.5);
    g.lineTo(right, bottom + 0.5);
    g.stroke();
    g.font = FONT;
    g.fillStyle = TEXT;
    g.fillText(o.xLabel, left + pw / 2, bottom + 19);
    g.save();
    g.translate(11, plotTop + ph / 2);
    g.rotate(-Math.PI / 2);
    g.textBaseline = 'middle';
    g.fillText(o.yLabel, 0, 0);
    g.restore();

    // Series, clipped to the plot box (the oldest point may lie left of it).
    g.save();
    g.beginPath();
    g.rect(left + 1, plotTop - 1, pw, ph + 1);
    g.clip();
    for (let k = visible.length - 1; k >= 0; k--) {
      const s = visible[k];
      const t = tops[k];
      // One path per run of present values.
      let i = 0;
      while (i < times.length) {
        while (i < times.length && t[i] === null) i++;
        const start = i;
        while (i < times.length && t[i] !== null) i++;
        if (i - start < 1) continue;
        const run = [];
        for (let j = start; j < i; j++) run.push(j);
        if (o.stacked) {
          g.beginPath();
          run.forEach((j, n) => (n === 0 ? g.moveTo(x(times[j]), y(t[j])) : g.lineTo(x(times[j]), y(t[j]))));
          for (let n = run.length - 1; n >= 0; n--) {
            const j = run[n];
            g.lineTo(x(times[j]), y(bases[k][j]));
          }
          g.closePath();
          g.globalAlpha = 0.28;
          g.fillStyle = s.color;
          g.fill();
          g.globalAlpha = 1;
        }
        g.beginPath();
        run.forEach((j, n) => (n === 0 ? g.moveTo(x(times[j]), y(t[j])) : g.lineTo(x(times[j]), y(t[j]))));
        g.strokeStyle = s.color;
        g.lineWidth = 2;
        g.lineJoin = 'round';
        g.stroke();
      }
    }
    g.restore();

    // Legend, right-aligned above the plot.
    if (o.legend && visible.length > 0) {
      g.font = SMALL;
      g.textBaseline = 'middle';
      g.textAlign = 'left';
      let items = visible.map((s) => ({ s, w: 14 + g.measureText(s.name).width + 12 }));
      const width = (list) => list.reduce((a, it) => a + it.w, 0);
      // Too many to fit: the newest ones, and how many more there are.
      let more = '';
      while (items.length > 1 && width(items) + g.measureText(more).width > pw) {
        items = items.slice(1);
        more = `+${visible.length - items.length} more   `;
      }
      let lx = right - width(items) - g.measureText(more).width;
      g.fillStyle = AXIS;
      g.fillText(more, lx, 10.5);
      lx += g.measureText(more).width;
      for (const { s, w: iw } of items) {
        g.fillStyle = s.color;
        g.fillRect(lx, 5, 10, 10);
        g.fillStyle = TEXT;
        g.fillText(s.name, lx + 14, 10.5);
        lx += iw;
      }
    }
  }
}
