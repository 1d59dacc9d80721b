/// The live dashboard (`/dashboard`): one self-contained page, no external scripts, styles or fonts. It reads
/// `/api/live` every second and draws events/s, alerts/s, consumer lag, latency percentiles and the score
/// distribution as inline SVG, and lists the latest alerts with their explanations.
///
/// Each chart's `<svg>` carries `data-points` (how many values it drew), so a headless browser test can tell
/// from the DOM that the charts show data, and each series has its own colour so a screenshot can be checked too.
enum DashboardPage {
    static let html: [UInt8] = Array(text.utf8)

    private static let text = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>Vigil live</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>
          :root { --bg: #ffffff; --fg: #1d2330; --muted: #6b7280; --grid: #e5e7eb; --panel: #f8fafc; }
          * { box-sizing: border-box; }
          body { margin: 0; padding: 16px 20px; background: var(--bg); color: var(--fg);
                 font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; }
          header { display: flex; align-items: baseline; gap: 16px; margin-bottom: 12px; }
          h1 { font-size: 20px; margin: 0; }
          #status { color: var(--muted); }
          .tiles { display: grid; grid-template-columns: repeat(6, 1fr); gap: 10px; margin-bottom: 12px; }
          .tile { background: var(--panel); border: 1px solid var(--grid); border-radius: 6px; padding: 8px 10px; }
          .tile .label { color: var(--muted); font-size: 12px; }
          .tile .value { font-size: 22px; font-variant-numeric: tabular-nums; }
          .charts { display: grid; grid-template-columns: repeat(3, 1fr); gap: 10px; }
          .chart { background: var(--panel); border: 1px solid var(--grid); border-radius: 6px; padding: 8px; }
          .chart h2 { font-size: 13px; margin: 0 0 4px; font-weight: 600; }
          .chart svg { width: 100%; height: 150px; display: block; }
          .legend span { font-size: 12px; margin-right: 10px; }
          table { width: 100%; border-collapse: collapse; margin-top: 12px; font-size: 13px; }
          th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--grid); vertical-align: top; }
          th { color: var(--muted); font-weight: 600; }
          td.num { font-variant-numeric: tabular-nums; }
          .reason { display: inline-block; margin-right: 10px; }
          .rule { color: #b91c1c; }
        </style>
        </head>
        <body>
        <header><h1>Vigil</h1><span id="status">connecting…</span></header>
        <section class="tiles">
          <div class="tile"><div class="label">events/s</div><div class="value" id="tile-events">–</div></div>
          <div class="tile"><div class="label">alerts/s</div><div class="value" id="tile-alerts">–</div></div>
          <div class="tile"><div class="label">consumer lag</div><div class="value" id="tile-lag">–</div></div>
          <div class="tile"><div class="label">latency p50 / p99 (ms)</div><div class="value" id="tile-latency">–</div></div>
          <div class="tile"><div class="label">events scored</div><div class="value" id="tile-scored">–</div></div>
          <div class="tile"><div class="label">alerts / dead letters</div><div class="value" id="tile-totals">–</div></div>
        </section>
        <section class="charts">
          <div class="chart"><h2>Events per second</h2><svg id="chart-events" data-points="0" viewBox="0 0 400 150" preserveAspectRatio="none"></svg></div>
          <div class="chart"><h2>Alerts per second</h2><svg id="chart-alerts" data-points="0" viewBox="0 0 400 150" preserveAspectRatio="none"></svg></div>
          <div class="chart"><h2>Consumer lag (messages)</h2><svg id="chart-lag" data-points="0" viewBox="0 0 400 150" preserveAspectRatio="none"></svg></div>
          <div class="chart"><h2>Latency, read to delivery (ms)</h2>
            <div class="legend"><span style="color:#7c3aed">■ p50</span><span style="color:#ea580c">■ p99</span></div>
            <svg id="chart-latency" data-points="0" viewBox="0 0 400 150" preserveAspectRatio="none"></svg></div>
          <div class="chart"><h2>Combined score distribution (log count)</h2><svg id="chart-scores" data-points="0" viewBox="0 0 400 150" preserveAspectRatio="none"></svg></div>
          <div class="chart"><h2>State per entity</h2><table id="entities"><thead><tr><th>entity</th><th>keys</th><th>bytes</th></tr></thead><tbody></tbody></table></div>
        </section>
        <h2 style="font-size:15px;margin:16px 0 0">Latest alerts</h2>
        <table id="alerts">
          <thead><tr><th>event time</th><th>entity</th><th>score</th><th>percentile</th><th>why</th></tr></thead>
          <tbody></tbody>
        </table>
        <script>
        "use strict";
        const SVG = "http://www.w3.org/2000/svg";
        const W = 400, H = 150, PAD = 4;

        function fmt(x, digits) {
          if (x === null || x === undefined || !isFinite(x)) return "–";
          if (Math.abs(x) >= 1e6) return (x / 1e6).toFixed(1) + "M";
          if (Math.abs(x) >= 1e4) return (x / 1e3).toFixed(1) + "k";
          return x.toFixed(digits === undefined ? 0 : digits);
        }

        function clear(svg) { while (svg.firstChild) svg.removeChild(svg.firstChild); }

        function gridAndScale(svg, max) {
          for (let i = 1; i < 4; i++) {
            const y = PAD + (H - 2 * PAD) * i / 4;
            const line = document.createElementNS(SVG, "line");
            line.setAttribute("x1", 0); line.setAttribute("x2", W);
            line.setAttribute("y1", y); line.setAttribute("y2", y);
            line.setAttribute("stroke", "#e5e7eb"); line.setAttribute("stroke-width", "1");
            svg.appendChild(line);
          }
          const label = document.createElementNS(SVG, "text");
          label.setAttribute("x", 4); label.setAttribute("y", 14);
          label.setAttribute("font-size", "11"); label.setAttribute("fill", "#6b7280");
          label.textContent = "max " + fmt(max, max < 10 ? 2 : 0);
          svg.appendChild(label);
        }

        // Draws one or more series (arrays of numbers or nulls) as polylines sharing one y scale.
        function lines(id, series, colours) {
          const svg = document.getElementById(id);
          clear(svg);
          let max = 0, points = 0;
          for (const values of series) for (const v of values) if (v !== null && isFinite(v)) max = Math.max(max, v);
          const top = max > 0 ? max * 1.1 : 1;
          gridAndScale(svg, max);
          series.forEach((values, s) => {
            const n = values.length;
            const coords = [];
            values.forEach((v, i) => {
              if (v === null || !isFinite(v)) return;
              const x = n > 1 ? (W * i) / (n - 1) : W / 2;
              const y = H - PAD - (H - 2 * PAD) * (v / top);
              coords.push(x.toFixed(1) + "," + y.toFixed(1));
            });
            if (coords.length === 0) return;
            if (coords.length === 1) coords.push((W).toFixed(1) + "," + coords[0].split(",")[1]);
            const line = document.createElementNS(SVG, "polyline");
            line.setAttribute("points", coords.join(" "));
            line.setAttribute("fill", "none");
            line.setAttribute("stroke", colours[s]);
            line.setAttribute("stroke-width", "3");
            line.setAttribute("vector-effect", "non-scaling-stroke");
            svg.appendChild(line);
            points += coords.length;
          });
          svg.setAttribute("data-points", String(points));
        }

        function bars(id, counts, colour) {
          const svg = document.getElementById(id);
          clear(svg);
          const logs = counts.map(c => c > 0 ? Math.log10(c + 1) : 0);
          const max = Math.max(1e-9, ...logs);
          gridAndScale(svg, Math.max(...counts));
          const width = W / counts.length;
          let drawn = 0;
          logs.forEach((v, i) => {
            if (counts[i] === 0) return;
            const h = (H - 2 * PAD) * v / max;
            const rect = document.createElementNS(SVG, "rect");
            rect.setAttribute("x", (i * width + 1).toFixed(1));
            rect.setAttribute("y", (H - PAD - h).toFixed(1));
            rect.setAttribute("width", (width - 2).toFixed(1));
            rect.setAttribute("height", Math.max(1, h).toFixed(1));
            rect.setAttribute("fill", colour);
            svg.appendChild(rect);
            drawn++;
          });
          svg.setAttribute("data-points", String(drawn));
        }

        function cell(row, text, cls) {
          const td = document.createElement("td");
          td.textContent = text;
          if (cls) td.className = cls;
          row.appendChild(td);
          return td;
        }

        function alertsTable(alerts) {
          const body = document.querySelector("#alerts tbody");
          body.replaceChildren();
          for (const a of alerts) {
            const row = document.createElement("tr");
            cell(row, a.event_time || "");
            cell(row, Object.entries(a.entities || {}).map(([k, v]) => k + "=" + v).join(" "));
            cell(row, fmt(a.score, 4), "num");
            cell(row, fmt(a.percentile, 2), "num");
            const why = cell(row, "");
            for (const rule of (a.rules || [])) {
              const span = document.createElement("span");
              span.className = "reason rule"; span.textContent = "rule " + rule;
              why.appendChild(span);
            }
            for (const e of (a.explanation || []).slice(0, 3)) {
              const span = document.createElement("span");
              span.className = "reason";
              span.textContent = e.feature + "=" + (e.value === null ? "null" : fmt(e.value, 2)) + " (" + fmt(e.contribution, 2) + ")";
              why.appendChild(span);
            }
            body.appendChild(row);
          }
        }

        function entitiesTable(entities) {
          const body = document.querySelector("#entities tbody");
          body.replaceChildren();
          for (const e of entities) {
            const row = document.createElement("tr");
            cell(row, e.entity); cell(row, fmt(e.keys), "num"); cell(row, fmt(e.bytes), "num");
            body.appendChild(row);
          }
        }

        async function refresh() {
          try {
            const response = await fetch("/api/live", { cache: "no-store" });
            const live = await response.json();
            const s = live.series;
            const last = s.length ? s[s.length - 1] : null;
            document.getElementById("status").textContent =
              (live.ready ? "ready" : "warming up") + " · config v" + live.config_version + " · up " + fmt(live.uptime_s) + " s";
            document.getElementById("tile-events").textContent = last ? fmt(last.events_per_s) : "–";
            document.getElementById("tile-alerts").textContent = last ? fmt(last.alerts_per_s, 2) : "–";
            document.getElementById("tile-lag").textContent = last && last.lag !== null ? fmt(last.lag) : "–";
            document.getElementById("tile-latency").textContent = fmt(live.latency_ms.p50, 2) + " / " + fmt(live.latency_ms.p99, 2);
            document.getElementById("tile-scored").textContent = fmt(live.totals.scored);
            document.getElementById("tile-totals").textContent = fmt(live.totals.alerts) + " / " + fmt(live.totals.dead_letters);
            lines("chart-events", [s.map(x => x.events_per_s)], ["#2563eb"]);
            lines("chart-alerts", [s.map(x => x.alerts_per_s)], ["#dc2626"]);
            lines("chart-lag", [s.map(x => x.lag)], ["#16a34a"]);
            lines("chart-latency", [s.map(x => x.p50_ms), s.map(x => x.p99_ms)], ["#7c3aed", "#ea580c"]);
            bars("chart-scores", live.scores, "#0891b2");
            alertsTable(live.alerts);
            entitiesTable(live.entities);
          } catch (error) {
            document.getElementById("status").textContent = "disconnected: " + error;
          }
        }

        refresh();
        setInterval(refresh, 1000);
        </script>
        </body>
        </html>
        """#
}
