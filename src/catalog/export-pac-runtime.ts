// The JavaScript body of the generated PAC file (FindProxyForURL and helpers) as text; pac.ts prepends the data
// tables E, S, G, N4, N6 and PROXY. ES3-compatible (WinHTTP's engine): var, no arrows, no trailing commas.
// Must not call dnsResolve/isResolvable/myIpAddress: name resolution inside a PAC blocks browsers.

/*
 * Codes: rank * 8 + portMask * 2 + direct, rank = the rule's precedence among the PAC's rules (larger wins,
 * same order as the proxy's matcher), portMask bit 1 = port 80 (http:), bit 2 = port 443 (https: and the
 * rest), direct = 1 for DIRECT. E: exact host → codes; S: suffix → codes of `*.suffix` rules (never the apex);
 * G: suffix → [regex over the labels left of the suffix, code] for wildcards inside a label ("[^.]" never
 * crosses a dot, unlike shExpMatch's "*"). N4/N6: DIRECT ranges for IP-literal hosts only, exact already.
 */
export const PAC_RUNTIME = `var HOP = Object.prototype.hasOwnProperty;
function pick(list, m, b) {
  for (var i = 0; i < list.length; i++) {
    var c = list[i];
    if (((c >> 1) & m) !== 0 && c > b) b = c;
  }
  return b;
}
function ip4(h, m) {
  for (var i = 0; i < N4.length; i++) {
    if ((N4[i][2] & m) !== 0 && isInNet(h, N4[i][0], N4[i][1])) return true;
  }
  return false;
}
function ip6(h) {
  var z = h.indexOf("%");
  if (z >= 0) h = h.substring(0, z);
  var parts = h.split("::");
  if (parts.length > 2) return null;
  var l = parts[0] === "" ? [] : parts[0].split(":");
  var r = parts.length === 2 && parts[1] !== "" ? parts[1].split(":") : [];
  var t = r.length > 0 ? r : l;
  if (t.length > 0 && t[t.length - 1].indexOf(".") >= 0) {
    var q = t.pop().split(".");
    if (q.length !== 4) return null;
    t.push(((q[0] << 8) | q[1]).toString(16), ((q[2] << 8) | q[3]).toString(16));
  }
  var n = l.length + r.length, a = [], i;
  if (n > 8 || (parts.length === 1 && n !== 8)) return null;
  for (i = 0; i < l.length; i++) a.push(parseInt(l[i], 16));
  for (i = n; i < 8; i++) a.push(0);
  for (i = 0; i < r.length; i++) a.push(parseInt(r[i], 16));
  for (i = 0; i < 8; i++) if (!(a[i] >= 0 && a[i] <= 65535)) return null;
  return a;
}
function in6(a, m) {
  for (var i = 0; i < N6.length; i++) {
    var g = N6[i][0], len = N6[i][1], ok = (N6[i][2] & m) !== 0;
    for (var k = 0; ok && k * 16 < len; k++) {
      var bits = len - k * 16, mask = bits >= 16 ? 65535 : (65535 << (16 - bits)) & 65535;
      if ((a[k] & mask) !== g[k]) ok = false;
    }
    if (ok) return true;
  }
  return false;
}
function FindProxyForURL(url, host) {
  var h = String(host).toLowerCase();
  if (h.charAt(0) === "[") h = h.substring(1, h.length - 1);
  if (h.charAt(h.length - 1) === ".") h = h.substring(0, h.length - 1);
  var m = String(url).substring(0, 5).toLowerCase() === "http:" ? 1 : 2;
  if (/^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$/.test(h)) return ip4(h, m) ? "DIRECT" : PROXY;
  if (h.indexOf(":") >= 0) {
    var a = ip6(h);
    if (a === null) return PROXY;
    if (a[0] === 0 && a[1] === 0 && a[2] === 0 && a[3] === 0 && a[4] === 0 && a[5] === 65535) {
      return ip4((a[6] >> 8) + "." + (a[6] & 255) + "." + (a[7] >> 8) + "." + (a[7] & 255), m) ? "DIRECT" : PROXY;
    }
    return in6(a, m) ? "DIRECT" : PROXY;
  }
  if (h === "" || h.charAt(0) === "." || h.indexOf("..") >= 0 || h.indexOf("*") >= 0) return PROXY;
  var b = HOP.call(E, h) ? pick(E[h], m, 0) : 0;
  for (var i = h.indexOf("."); i > 0; i = h.indexOf(".", i + 1)) {
    var s = h.substring(i + 1);
    if (HOP.call(S, s)) b = pick(S[s], m, b);
    if (HOP.call(G, s)) {
      var g = G[s], head = h.substring(0, i);
      for (var j = 0; j < g.length; j++) {
        if (((g[j][1] >> 1) & m) !== 0 && g[j][1] > b && g[j][0].test(head)) b = g[j][1];
      }
    }
  }
  return (b & 1) === 1 ? "DIRECT" : PROXY;
}
`;
