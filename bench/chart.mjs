// Writes the throughput results as an SVG bar chart (no dependencies): one bar
// per case, ops/s on a shared scale, labels inside the picture.
export function throughputSvg(cases, results) {
  const rows = cases.filter((c) => results[c.id] && !results[c.id].error);
  const max = Math.max(...rows.map((c) => results[c.id].opsPerSec));
  const W = 760;
  const left = 250;
  const barH = 26;
  const gap = 10;
  const top = 40;
  const H = top + rows.length * (barH + gap) + 30;
  const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="13">\n`;
  svg += `<rect width="${W}" height="${H}" fill="white"/>\n`;
  svg += `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">ops/s, 100k keys, 94% get / 6% set (higher is better)</text>\n`;
  rows.forEach((c, i) => {
    const r = results[c.id];
    const y = top + i * (barH + gap);
    const w = Math.max(2, ((W - left - 110) * r.opsPerSec) / max);
    const color = c.id.startsWith('wasmap') ? '#2f7dd1' : c.id.startsWith('ref') ? '#bbbbbb' : '#e8a13a';
    svg += `<text x="${left - 8}" y="${y + barH / 2 + 4}" text-anchor="end">${esc(c.label)}</text>\n`;
    svg += `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${color}"/>\n`;
    svg += `<text x="${left + w + 6}" y="${y + barH / 2 + 4}">${Math.round(r.opsPerSec).toLocaleString('en-US')}</text>\n`;
  });
  svg += `</svg>\n`;
  return svg;
}
