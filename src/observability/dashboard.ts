// The admin dashboard at `/`: one self-contained page (inline CSS and JS, inline SVG sparkline) that polls
// `/api/live` every second. Must reference no external URL, font or script (the proxy may be the only way
// out), and must put data into the page with textContent/attributes only, never as HTML.

/** Polling period of the page, in ms. */
export const DASHBOARD_POLL_MS = 1000;

// The CSP forbids anything but this page's inline code and same-origin fetches, so even a future edit that
// adds an external URL fails closed in the browser.
const CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'";

const CSS = `
:root{--fg:#1b1f23;--mute:#5f6b76;--bg:#f6f8fa;--card:#fff;--line:#d8dee4;--bypass:#2e7d32;--log:#1565c0;--inspect:#ef6c00;--deny:#c62828}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--mute:#8d96a0;--bg:#0d1117;--card:#161b22;--line:#30363d}}
*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;justify-content:space-between;align-items:baseline;padding:12px 20px;border-bottom:1px solid var(--line)}
h1{font-size:18px;margin:0}h2{font-size:13px;font-weight:600;text-transform:uppercase;letter-spacing:.04em;color:var(--mute);margin:0 0 8px}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));align-items:start;gap:14px;padding:16px 20px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px}section.wide{grid-column:1/-1}
.big{font-size:30px;font-weight:650;font-variant-numeric:tabular-nums}.mute{color:var(--mute)}.small{font-size:12px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}td,th{padding:3px 6px;text-align:left;border-bottom:1px solid var(--line)}
td.n,th.n{text-align:right}.host{word-break:break-all}
.dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:5px}
.bar{height:8px;background:var(--line);border-radius:4px;overflow:hidden;margin-top:6px}.bar>div{height:100%;background:var(--bypass);width:0}
#status.stale{color:var(--deny)}#savings-warning{color:var(--inspect)}
`;

const CARDS = (['bypass', 'log', 'inspect', 'deny'] as const)
  .map((d) => `<tr><td><span class="dot" style="background:var(--${d})"></span>${d}</td><td class="n" id="tunnels-${d}" data-testid="tunnels-${d}">0</td><td class="n" id="bytes-in-${d}">0 B</td><td class="n" id="bytes-out-${d}">0 B</td><td class="n" id="bytes-${d}" data-testid="bytes-${d}">0 B</td></tr>`)
  .join('');

const BODY = `
<header><h1>autopatch-proxy · live</h1><span id="status" class="mute small" data-testid="status">connecting…</span></header>
<main>
<section><h2>Open tunnels</h2><div class="big" id="active-tunnels" data-testid="active-tunnels" data-value="0">0</div>
<div class="mute small">bypass <span id="active-bypass">0</span> · log <span id="active-log">0</span> · inspect <span id="active-inspect">0</span></div></section>
<section><h2>Decisions</h2><div class="big" id="decisions-total" data-testid="decisions-total" data-value="0">0</div>
<div class="mute small"><span id="decisions-per-second" data-testid="decisions-per-second" data-value="0">0</span> /s over 10 s · last 60 s:</div>
<svg id="rate-sparkline" data-testid="rate-sparkline" viewBox="0 0 300 48" width="100%" height="48" preserveAspectRatio="none" role="img" aria-label="decisions per second, last 60 s">
<polyline id="spark-total" fill="none" stroke="var(--log)" stroke-width="1.5" points=""></polyline>
<polyline id="spark-bypass" fill="none" stroke="var(--bypass)" stroke-width="1.5" points=""></polyline></svg></section>
<section><h2>Bypass share</h2><div class="big" id="bypass-share" data-testid="bypass-share" data-value="0">0.0 %</div>
<div class="mute small">of bytes · <span id="bypass-share-decisions" data-value="0">0.0 %</span> of decisions</div><div class="bar"><div id="bypass-bar"></div></div></section>
<section><h2>Savings so far</h2><div class="small" id="savings-warning"></div>
<div class="big" id="savings-cpu" data-testid="savings-cpu" data-value="0">0 s</div><div class="mute small">CPU not spent on inspection</div>
<table class="small"><tr><td>TLS handshakes avoided</td><td class="n" id="savings-handshakes" data-testid="savings-handshakes">0</td></tr>
<tr><td>certificates not minted</td><td class="n" id="savings-certs">0</td></tr>
<tr><td>bytes not decrypted</td><td class="n" id="savings-bytes" data-testid="savings-bytes">0 B</td></tr>
<tr><td>latency not added (sum)</td><td class="n" id="savings-latency">0 s</td></tr></table></section>
<section class="wide"><h2>Per decision</h2><table><thead><tr><th>decision</th><th class="n">open tunnels</th><th class="n">in (client→proxy)</th><th class="n">out (proxy→client)</th><th class="n">total</th></tr></thead><tbody>${CARDS}</tbody></table></section>
<section><h2>TLS rejections</h2><table class="small"><tbody id="tls-rejections" data-testid="tls-rejections"></tbody></table></section>
<section><h2>Catalog rules</h2><table class="small"><tbody id="catalog-rules"></tbody></table></section>
<section class="wide"><h2>Recent denials and TLS rejections</h2><table class="small"><thead><tr><th>time</th><th>host</th><th>decision</th><th>reason</th></tr></thead>
<tbody id="recent-denials" data-testid="recent-denials"></tbody></table></section>
</main>`;

// Plain ES2020, no template literals (this file embeds it in one). Everything from the server goes through
// textContent or setAttribute.
const SCRIPT = `
(function () {
  'use strict';
  var D = ['bypass', 'log', 'inspect', 'deny'];
  var updates = 0;
  function el(id) { return document.getElementById(id); }
  function put(id, value, text) { var e = el(id); if (!e) return; e.textContent = text; e.setAttribute('data-value', String(value)); }
  function int(n) { return Math.round(n).toLocaleString('en-US'); }
  function bytes(n) { var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'], i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return (i === 0 ? String(n) : n.toFixed(n < 10 ? 2 : 1)) + ' ' + u[i]; }
  function pct(x) { return (x * 100).toFixed(1) + ' %'; }
  function secs(s) { return s < 1 ? (s * 1000).toFixed(1) + ' ms' : s < 120 ? s.toFixed(2) + ' s' : (s / 60).toFixed(1) + ' min'; }
  function hhmmss(t) { var d = new Date(t); return [d.getHours(), d.getMinutes(), d.getSeconds()].map(function (x) { return String(x).padStart(2, '0'); }).join(':'); }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function row(cells, cls) { var tr = document.createElement('tr'); cells.forEach(function (c, i) { var td = document.createElement('td'); td.textContent = c; if (cls && cls[i]) td.className = cls[i]; tr.appendChild(td); }); return tr; }
  function points(series, max) { var n = series.length; return series.map(function (v, i) { return (n > 1 ? (i * 300) / (n - 1) : 0).toFixed(1) + ',' + (46 - (v / max) * 44).toFixed(1); }).join(' '); }
  function render(s) {
    put('active-tunnels', s.activeTunnelsTotal, int(s.activeTunnelsTotal));
    D.forEach(function (d) {
      put('tunnels-' + d, s.activeTunnels[d], int(s.activeTunnels[d]));
      if (el('active-' + d)) el('active-' + d).textContent = int(s.activeTunnels[d]);
      put('bytes-in-' + d, s.bytes[d].in, bytes(s.bytes[d].in));
      put('bytes-out-' + d, s.bytes[d].out, bytes(s.bytes[d].out));
      put('bytes-' + d, s.bytes[d].in + s.bytes[d].out, bytes(s.bytes[d].in + s.bytes[d].out));
    });
    put('decisions-total', s.decisionsTotal, int(s.decisionsTotal));
    put('decisions-per-second', s.rate.perSecond, s.rate.perSecond.toFixed(1));
    var max = Math.max(1, Math.max.apply(null, s.rate.total));
    el('spark-total').setAttribute('points', points(s.rate.total, max));
    el('spark-bypass').setAttribute('points', points(s.rate.byDecision.bypass, max));
    put('bypass-share', s.bypassShare.bytes, pct(s.bypassShare.bytes));
    put('bypass-share-decisions', s.bypassShare.decisions, pct(s.bypassShare.decisions));
    el('bypass-bar').style.width = (s.bypassShare.bytes * 100).toFixed(1) + '%';
    var v = s.savings;
    put('savings-cpu', v.cpuSecondsSaved, secs(v.cpuSecondsSaved));
    put('savings-handshakes', v.handshakesAvoided, int(v.handshakesAvoided));
    put('savings-certs', v.certificatesAvoided, int(v.certificatesAvoided) + (v.certificatesAvoidedIsLowerBound ? '+' : ''));
    put('savings-bytes', v.bytesNotDecrypted, bytes(v.bytesNotDecrypted));
    put('savings-latency', v.latencyNotAddedSeconds, secs(v.latencyNotAddedSeconds));
    el('savings-warning').textContent = v.warning || '';
    var tls = el('tls-rejections'); clear(tls);
    Object.keys(s.tlsRejections).forEach(function (r) { tls.appendChild(row([r, int(s.tlsRejections[r])], [null, 'n'])); });
    var cat = el('catalog-rules'); clear(cat);
    var sources = Object.keys(s.catalogRules);
    if (!sources.length) cat.appendChild(row(['no catalog loaded'], ['mute']));
    sources.sort().forEach(function (k) { cat.appendChild(row([k, int(s.catalogRules[k])], [null, 'n'])); });
    var recent = el('recent-denials'); clear(recent);
    if (!s.recent.length) recent.appendChild(row(['none yet'], ['mute']));
    s.recent.forEach(function (r) {
      var host = r.host === null ? '(none)' : r.port === null ? r.host : r.host + ':' + r.port;
      var tr = row([hhmmss(r.time), host, r.decision, r.reason], [null, 'host', null, null]);
      tr.setAttribute('data-reason', r.reason);
      recent.appendChild(tr);
    });
    updates++;
    document.body.setAttribute('data-updates', String(updates));
    var st = el('status'); st.className = 'mute small'; st.textContent = 'updated ' + hhmmss(s.time) + ' · up ' + secs((s.time - s.startedAt) / 1000);
  }
  function poll() {
    fetch('api/live', { cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(render)
      .catch(function (e) { var st = el('status'); st.className = 'small stale'; st.textContent = 'no data: ' + String(e && e.message || e); })
      .finally(function () { setTimeout(poll, ${DASHBOARD_POLL_MS}); });
  }
  poll();
})();
`;

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width,initial-scale=1">
<link rel="icon" href="data:,">
<title>autopatch-proxy · live</title>
<style>${CSS}</style></head>
<body data-updates="0">${BODY}
<script>${SCRIPT}</script>
</body></html>
`;

/** The whole page; built once (it is constant: every figure arrives through `/api/live`). */
export function dashboardHtml(): string {
  return PAGE;
}
