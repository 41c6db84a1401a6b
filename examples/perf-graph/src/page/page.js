// The live chart: fed by /events (server-sent events), drawn with uPlot.
// Events: hello (run settings), history (all points so far: on every (re)connect), point, end.
// Two round trips per tick: the TCP ping (inside the fileshare connection, where TCP resends what
// is lost) and the UDP probe (where a dropped packet stays lost); the loss line is the probes'.
/* global uPlot */
'use strict';

const $ = (id) => document.getElementById(id);
const chartEl = $('chart');
let config = null;
let plot = null;
let data = emptyData();
let redrawTimer = null;

function emptyData() {
  return { t: [], rtt: [], avg: [], lost: [], udp: [], udpRate: [], mbps: [] };
}

const ms = (x) => (x === null || x === undefined ? '–' : x < 10 ? `${x.toFixed(2)} ms` : `${x.toFixed(1)} ms`);
const mbps = (x) => (x === null || x === undefined ? '–' : `${x.toFixed(1)} MB/s`);

function setStatus(text) {
  const el = $('status');
  el.textContent = text;
  el.className = `status ${text}`;
}

function showStats(s) {
  if (!s) return;
  $('last').textContent = s.count === 0 ? '–' : s.lastMs === null ? 'lost' : ms(s.lastMs);
  $('avg').textContent = ms(s.avgMs);
  $('p95').textContent = ms(s.p95Ms);
  $('loss').textContent = `${s.lossPercent.toFixed(1)} % (${s.lost})`;
  $('loss').classList.toggle('bad', s.lost > 0);
  $('count').textContent = String(s.count);
  const u = s.udp;
  $('udp-avg').textContent = u ? ms(u.avgMs) : '–';
  $('udp-loss').textContent = u ? `${u.lossPercent.toFixed(1)} % (${u.lost})` : '–';
  $('udp-loss').classList.toggle('bad', !!u && u.lost > 0);
  $('udp-rate').textContent = u ? `${u.lossRate.toFixed(1)} %` : '–';
  $('udp-rate').classList.toggle('bad', !!u && u.lossRate > 0);
  $('throughput').textContent = config && config.loadBytes > 0 ? mbps(s.mbps) : config && config.throughputBytes > 0 ? 'at the end' : '–';
}

function addPoint(p) {
  data.t.push(p.t);
  data.rtt.push(p.rttMs);
  data.avg.push(p.avgMs);
  data.lost.push(p.rttMs === null);
  data.mbps.push(p.mbps);
  // a point without a probe (none offered, or sent while the connection was down) draws nothing
  data.udp.push(p.udpRttMs === undefined ? null : p.udpRttMs);
  data.udpRate.push(p.udpLossRate === undefined ? null : p.udpLossRate);
}

/** Highest latency drawn: lost pings are marked just above it. */
function latencyTop() {
  let top = 0;
  for (const v of data.rtt) if (v !== null && v > top) top = v;
  for (const v of data.udp) if (v !== null && v > top) top = v;
  return top > 0 ? top * 1.05 : config ? config.timeoutMs : 1;
}

function makePlot() {
  if (plot) plot.destroy();
  const series = [
    { label: 'time', value: (u, v) => (v === null || v === undefined ? '–' : `${v.toFixed(1)} s`) },
    { label: 'latency', scale: 'ms', stroke: '#2563eb', width: 1, value: (u, v) => ms(v), points: { show: false } },
    { label: `rolling avg (${config.window})`, scale: 'ms', stroke: '#f59e0b', width: 2, value: (u, v) => ms(v), points: { show: false } },
    {
      label: 'lost',
      scale: 'ms',
      stroke: '#dc2626',
      fill: '#dc2626',
      paths: () => null,
      value: (u, v) => (v === null ? '' : 'lost'),
      points: { show: true, size: 9, space: 0, fill: '#dc2626' },
    },
    { label: 'UDP latency', scale: 'ms', stroke: '#7c3aed', width: 1, value: (u, v) => ms(v), points: { show: false } },
    {
      label: 'UDP loss, last 1 s',
      scale: 'pct',
      stroke: '#dc2626',
      width: 2,
      dash: [6, 3],
      value: (u, v) => (v === null || v === undefined ? '–' : `${v.toFixed(1)} %`),
      points: { show: false },
    },
  ];
  const axes = [
    { label: 'seconds', stroke: '#374151' },
    { scale: 'ms', label: 'latency (ms)', stroke: '#374151', size: 60 },
    { scale: 'pct', side: 1, label: 'UDP loss (%)', stroke: '#dc2626', grid: { show: false }, size: 50 },
  ];
  if (config.loadBytes > 0) {
    series.push({
      label: 'throughput',
      scale: 'mbps',
      stroke: '#16a34a',
      width: 1.5,
      fill: 'rgba(22,163,74,0.08)',
      value: (u, v) => mbps(v),
      points: { show: false },
    });
    axes.push({ scale: 'mbps', side: 1, label: 'throughput (MB/s)', stroke: '#16a34a', grid: { show: false }, size: 60 });
  }
  const fromZero = (u, min, max) => [0, max > 0 ? max * 1.08 : 1];
  plot = new uPlot(
    {
      width: Math.max(400, chartEl.clientWidth),
      height: 420,
      // the loss axis shows at least 0-10 %, so that a little loss is not drawn as a cliff
      scales: {
        x: { time: false },
        ms: { range: fromZero },
        mbps: { range: fromZero },
        pct: { range: (u, min, max) => [0, Math.min(100, Math.max(10, max * 1.15))] },
      },
      series,
      axes,
      legend: { live: true },
    },
    chartData(),
    chartEl,
  );
}

function chartData() {
  const top = latencyTop();
  const columns = [data.t, data.rtt, data.avg, data.lost.map((l) => (l ? top : null)), data.udp, data.udpRate];
  if (config && config.loadBytes > 0) columns.push(data.mbps);
  return columns;
}

function redraw() {
  redrawTimer = null;
  if (!plot) return;
  plot.setData(chartData());
  chartEl.dataset.points = String(data.t.length);
}

/** Coalesce redraws: at most ten per second, however fast the points come. */
function scheduleRedraw() {
  if (redrawTimer === null) redrawTimer = setTimeout(redraw, 100);
}

const events = new EventSource('/events');
events.addEventListener('open', () => setStatus('live'));
events.addEventListener('error', () => {
  if (events.readyState !== EventSource.CLOSED) setStatus('disconnected');
});
events.addEventListener('hello', (e) => {
  config = JSON.parse(e.data);
  $('target').textContent = `${config.user}@${config.target}`;
  const load = config.loadBytes > 0 ? `, load ${config.load}` : '';
  const bound = config.planned > 0 ? `${config.planned} pings` : 'until stopped';
  $('info').textContent =
    `ping every ${config.intervalMs} ms (lost after ${config.timeoutMs} ms), ${bound}${load}; started ${new Date(config.startedAt).toLocaleString()}`;
  makePlot();
});
events.addEventListener('history', (e) => {
  const { points, stats } = JSON.parse(e.data);
  data = emptyData();
  points.forEach(addPoint);
  showStats(stats);
  redraw();
});
events.addEventListener('point', (e) => {
  const { point, stats } = JSON.parse(e.data);
  addPoint(point);
  showStats(stats);
  scheduleRedraw();
});
events.addEventListener('end', (e) => {
  const { summary } = JSON.parse(e.data);
  events.close();
  setStatus('finished');
  redraw();
  if (summary) $('throughput').textContent = mbps(summary.throughputMBps);
  if (summary && summary.udp && !summary.udp.available) {
    $('udp-loss').textContent = 'unavailable';
    $('udp-loss').title = summary.udp.reason;
  }
});

window.addEventListener('resize', () => plot && plot.setSize({ width: Math.max(400, chartEl.clientWidth), height: 420 }));
