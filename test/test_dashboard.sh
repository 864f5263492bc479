#!/usr/bin/env bash
# test_dashboard.sh — RUN/dashboard.html and ./train report, opened in a real
# browser (issue #16). Trains a tiny dense run, a tiny MoE run, one killed
# while live and one that fails (NaN); writes pages for bad metrics.jsonl
# files (empty, a half-written last line, a corrupt line); compares runs. Then
# opens each page headless in Chromium from file:// with a probe script
# appended to a copy of it: the probe reads the drawn page (how many points
# each chart's line has, heatmap cells, the state, the notes, the resources
# the page loaded) into a <pre> that --dump-dom prints; Chromium's log gives
# the page's console messages (there must be none: no error, no blocked
# fetch). Screenshots go to $DASH_ARTIFACTS (default
# build/test-artifacts/dashboard). Without Chromium the browser checks print
# SKIP; the file and command-line checks run anyway.
cd "$(dirname "$0")/.." || exit 1
source test/cli_lib.sh
cli_setup test_dashboard
[ -n "$KEEP" ] && trap - EXIT && echo "keeping $D"
export OMP_NUM_THREADS=1
ART=${DASH_ARTIFACTS:-build/test-artifacts/dashboard}
# DASH_CHROMIUM=PATH picks the browser; DASH_CHROMIUM= (empty) runs without one
CHROME=${DASH_CHROMIUM-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}

make_corpus "$D/text.txt" 3000
$TOK train --input "$D/text.txt" --vocab-size 300 --output "$D/tok" >/dev/null 2>&1 &&
$TOK encode --model "$D/tok" --input "$D/text.txt" --output "$D/train.bin" --val-fraction 0.1 \
            --val-output "$D/val.bin" >/dev/null 2>&1 || { fail token_files "tokenizer failed"; exit 1; }
M=(--train "$D/train.bin" --val "$D/val.bin" --tokenizer "$D/tok" --layers 2 --dim 32 --heads 2 --kv-heads 1
   --ffn 48 --seq 16 --batch 8 --lr 3e-3 --warmup 5 --eval-batches 4)
rows() { grep -c "$1" "$2"; }   # rows of a metrics.jsonl holding a field

# ---- runs, and what they write ---------------------------------------------------------
$TRAIN "${M[@]}" --experts 1 --steps 40 --eval-every 10 --sample-every 20 --sample-tokens 30 --out "$D/dense" > "$D/dense.log" 2>&1 &&
$TRAIN "${M[@]}" --experts 4 --top-k 2 --steps 60 --eval-every 20 --sample-every 30 --sample-tokens 30 --out "$D/moe" > "$D/moe.log" 2>&1 ||
  { fail runs_train "$(tail -3 "$D/dense.log" "$D/moe.log")"; exit 1; }
if [ -s "$D/moe/dashboard.html" ] && [ -s "$D/dense/dashboard.html" ] &&
   grep -qx "dashboard: file://$D/moe/dashboard.html" "$D/moe.log"; then pass run_writes_dashboard_and_prints_its_url
else fail run_writes_dashboard_and_prints_its_url "$(tail -2 "$D/moe.log")"; fi
m=$D/moe/metrics.jsonl
if [ "$(rows '"config":{' "$m")" = 1 ] && [ "$(rows '"sample":"' "$m")" = 2 ] && tail -1 "$m" | grep -q '"end":"finished"' &&
   grep -q '"command":"./train --train' "$m"; then pass metrics_config_sample_end_rows
else fail metrics_config_sample_end_rows "$(grep -v train_loss "$m" | cut -c1-120)"; fi
h=$D/moe/dashboard.html
if grep -q "Content-Security-Policy\" content=\"default-src 'none'" "$h" && ! grep -q 'http-equiv="refresh"' "$h" &&
   [ -z "$(grep -o 'https\?://[^ '"'"'"]*' "$h" | grep -v '^http://www.w3.org/2000/svg$')" ] &&
   ! grep -qi '<script[^>]* src=\|<link\|<img\|<iframe' "$h"; then pass page_self_contained_no_urls_no_refresh_when_finished
else fail page_self_contained_no_urls_no_refresh_when_finished "$(grep -o 'https\?://[^ ]*' "$h" | head -3)"; fi

# a run stopped (--stop-at) and resumed: two config rows, a "stopped" row in the middle, one page
$TRAIN "${M[@]}" --experts 1 --steps 30 --eval-every 10 --stop-at 20 --out "$D/res" > /dev/null 2>&1
grep -q '"end":"stopped"' "$D/res/metrics.jsonl" && grep -q '"state":"stopped"' "$D/res/dashboard.html" &&
  grep -q 'continue with ./train --resume' "$D/res/dashboard.html" && s1=0 || s1=1
$TRAIN --resume "$D/res" --train "$D/train.bin" --val "$D/val.bin" --eval-every 10 --eval-batches 4 > "$D/res.log" 2>&1; s=$?
if [ $s1 = 0 ] && [ $s = 0 ] && [ "$(rows '"config":{' "$D/res/metrics.jsonl")" = 2 ] && tail -1 "$D/res/metrics.jsonl" | grep -q '"end":"finished"' &&
   grep -q '"state":"finished"' "$D/res/dashboard.html"; then pass stopped_then_resumed_run_finishes
else fail stopped_then_resumed_run_finishes "exit $s: $(grep -v train_loss "$D/res/metrics.jsonl" | cut -c1-100)"; fi

# a run killed while live: its page refreshes; read again from the folder it is
# live while the process holds the lock, and "stopped" with a note after kill -9
$TRAIN "${M[@]}" --experts 4 --top-k 2 --steps 100000 --eval-every 10 --out "$D/live" > "$D/live.log" 2>&1 &
pid=$!
for _ in $(seq 1 1500); do
  [ "$(rows '"expert_load"' "$D/live/metrics.jsonl" 2>/dev/null)" -ge 2 ] 2>/dev/null && [ -s "$D/live/dashboard.html" ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.02
done
cp "$D/live/dashboard.html" "$D/live-own.html" 2>/dev/null
$TRAIN dashboard "$D/live" > "$D/live-regen.log" 2>&1; s=$?
cp "$D/live/dashboard.html" "$D/live-regen.html" 2>/dev/null
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
if grep -q 'http-equiv="refresh" content="10"' "$D/live-own.html" && [ $s = 0 ] && grep -q '(live, ' "$D/live-regen.log" &&
   grep -q 'http-equiv="refresh"' "$D/live-regen.html"; then pass live_page_refreshes
else fail live_page_refreshes "exit $s: $(cat "$D/live-regen.log")"; fi
printf '{"step":99999,"train_loss":3.2,"lr":0.0' >> "$D/live/metrics.jsonl"   # a line cut short by the kill
$TRAIN dashboard "$D/live" > "$D/killed.log" 2> "$D/killed.err"; s=$?
if [ $s = 0 ] && grep -q '(stopped, ' "$D/killed.log" && grep -q 'warning: .*1 line left out (line [0-9]*: cut short' "$D/killed.err" &&
   ! grep -q 'http-equiv="refresh"' "$D/live/dashboard.html"; then pass killed_run_regenerated_as_stopped
else fail killed_run_regenerated_as_stopped "exit $s: $(cat "$D/killed.log" "$D/killed.err")"; fi
# the page the killed run wrote itself still says live; reopened much later it says it looks dead
sed 's/"generated_ms":[0-9]*/"generated_ms":1000000/' "$D/live-own.html" > "$D/live-stale.html"

# a run that fails: NaN (lr * weight decay = 100) -> "failed" and the reason
$TRAIN --train "$D/train.bin" --val "$D/val.bin" --layers 1 --dim 16 --heads 1 --kv-heads 1 --ffn 16 --experts 1 --seq 16 \
       --batch 4 --steps 200 --lr 10 --weight-decay 10 --clip 0 --warmup 0 --out "$D/nan" > /dev/null 2> "$D/nan.err"; s=$?
if [ $s = 1 ] && [ "$(wc -l < "$D/nan.err")" = 1 ] && tail -1 "$D/nan/metrics.jsonl" | grep -q '"end":"failed".*at step' &&
   grep -q '"state":"failed"' "$D/nan/dashboard.html"; then pass failed_run_records_failed
else fail failed_run_records_failed "exit $s: $(cat "$D/nan.err") $(tail -1 "$D/nan/metrics.jsonl")"; fi

# a dashboard that cannot be written is a warning: the run goes on and saves
mkdir -p "$D/ro/dashboard.html"
$TRAIN "${M[@]}" --experts 1 --steps 5 --out "$D/ro" > /dev/null 2> "$D/ro.err"; s=$?
if [ $s = 0 ] && [ -s "$D/ro/ckpt.bin" ] && grep -q '^train: warning: cannot write .*dashboard.html' "$D/ro.err" &&
   [ "$(grep -c . "$D/ro.err")" = 1 ]; then pass dashboard_write_failure_is_a_warning
else fail dashboard_write_failure_is_a_warning "exit $s: $(cat "$D/ro.err")"; fi

# ---- bad input ---------------------------------------------------------------------------------------------
mkdir -p "$D/empty" "$D/corrupt"
: > "$D/empty/metrics.jsonl"
$TRAIN dashboard "$D/empty" > /dev/null 2> "$D/empty.err" && [ ! -s "$D/empty.err" ] && pass empty_metrics_gives_a_page ||
  fail empty_metrics_gives_a_page "$(cat "$D/empty.err")"
# line 5 garbled (a NUL and garbage), line 9 not an object, line 10 no step, the last line cut short
{ sed -n 1,4p "$m"; printf '{"step":4,"train_loss":\0003.1xx\n'; sed -n 6,8p "$m"; echo '[1,2]'; echo '{"steps":3}'; sed -n '11,$p' "$m"
  printf '{"step":61,"train_lo'; } > "$D/corrupt/metrics.jsonl"
$TRAIN dashboard "$D/corrupt" > /dev/null 2> "$D/corrupt.err"; s=$?
if [ $s = 0 ] && grep -q 'warning: .*4 lines left out (line 5: not one JSON object)' "$D/corrupt.err"; then pass corrupt_metrics_gives_a_page_and_a_warning
else fail corrupt_metrics_gives_a_page_and_a_warning "exit $s: $(cat "$D/corrupt.err")"; fi
# one clear error line, exit status 1
expect_error() {   # NAME MESSAGE ARGS...
  local name=$1 msg=$2; shift 2
  $TRAIN "$@" > "$D/out" 2> "$D/err"; local s=$?
  if [ $s = 1 ] && [ "$(wc -l < "$D/err")" = 1 ] && grep -qF "train: error: $msg" "$D/err"; then pass "$name"
  else fail "$name" "exit $s: $(head -c 300 "$D/err")"; fi
}
expect_error report_missing_folder "$D/nope is not a run folder (No such file or directory)" report "$D/moe" "$D/nope" --out "$D/x.html"
expect_error dashboard_missing_folder "$D/nope is not a run folder" dashboard "$D/nope"
expect_error report_empty_metrics "$D/empty/metrics.jsonl has no valid row (it is empty)" report "$D/empty" --out "$D/x.html"
mkdir -p "$D/nometrics"
expect_error report_not_a_folder "$D/text.txt is not a run folder (not a folder)" report "$D/text.txt" --out "$D/x.html"
expect_error report_no_metrics "cannot read $D/nometrics/metrics.jsonl: No such file or directory" report "$D/nometrics" --out "$D/x.html"
expect_error report_no_runs "report needs at least one run folder" report --out "$D/x.html"
expect_error report_unknown_option "unknown option --bogus" report "$D/moe" --bogus
[ ! -e "$D/x.html" ] && pass report_errors_write_nothing || fail report_errors_write_nothing "$D/x.html exists"

$TRAIN report "$D/dense" "$D/moe" "$D/live" --out "$D/compare.html" > "$D/report.log" 2>&1; s=$?
if [ $s = 0 ] && grep -q "^report: file://$D/compare.html (3 runs)" "$D/report.log"; then pass report_writes_compare_page
else fail report_writes_compare_page "exit $s: $(cat "$D/report.log")"; fi

# ---- in the browser --------------------------------------------------------------------------------------------
if [ -n "$UT_SANITIZED" ]; then
  sanitized_note "the checks in Chromium"
  exit $failed
fi
if [ -z "$CHROME" ]; then
  echo "SKIP dashboard_in_browser (skipped: chromium not installed; apt-get install chromium)"
  exit $failed
fi
mkdir -p "$ART"
# The probe: appended to a copy of a page, it runs after the renderer and
# writes what the browser drew, one key=value a line, into <pre id="probe">.
cat > "$D/probe.js" <<'EOF'
<script>
(function () {
  const out = [], put = (k, v) => out.push(k + '=' + v);
  const all = s => document.querySelectorAll(s);
  const line = (chart, name) => { const p = document.querySelector('#' + chart + ' polyline[data-series="' + name + '"]'); return p ? p.points.numberOfItems : -1; };
  put('rendered', document.getElementById('app').getAttribute('data-rendered'));
  put('state', (document.getElementById('state') || {}).textContent);
  put('refresh', all('meta[http-equiv="refresh"]').length);
  put('resources', performance.getEntriesByType('resource').length);
  put('loss_raw', line('chart-loss', 'train (raw)'));
  put('loss_smoothed', line('chart-loss', 'train (smoothed)'));
  put('loss_val', line('chart-loss', 'validation'));
  put('lr', line('chart-lr', 'lr (warmup, then cosine)'));
  put('grad', line('chart-grad', '|g|'));
  put('speed', line('chart-speed', 'tokens/s'));
  put('aux', line('chart-moe', 'aux (load balancing; 1 = balanced)'));
  put('clip_label', all('#chart-grad svg text').length && [...all('#chart-grad svg text')].some(t => t.textContent.startsWith('clip')) ? 1 : 0);
  put('bpb_axis', [...all('#chart-loss svg text')].some(t => t.textContent === 'bits/byte') ? 1 : 0);
  put('ticks_min', Math.min(...[...all('figure.chart[id^="chart-"], figure.chart[id^="cmp-"]')].map(f => f.querySelectorAll('svg text').length)));
  put('heat_latest', all('#heat-latest rect.hm-cell').length);
  put('heat_time', all('#heat-time rect.hm-time-cell').length);
  put('samples', all('#samples pre').length);
  put('command', (document.getElementById('command') || {textContent: ''}).textContent.startsWith('./train ') ? 1 : 0);
  put('notes', [...all('.notes li')].map(li => li.textContent).join(' | ').replace(/[<>&]/g, '_'));
  for (const id of ['cmp-step', 'cmp-tokens', 'cmp-time', 'cmp-train'])
    put(id, [...all('#' + id + ' polyline')].map(p => p.points.numberOfItems).join(','));
  put('finals_rows', all('#finals tr').length - 1);
  put('diff_keys', [...all('#diff tr td:first-child')].map(td => td.textContent).join(','));
  /* hover: a mouse move over the middle of the loss chart shows the values */
  const hit = [...all('#chart-loss svg rect, #cmp-step svg rect')].pop();
  if (hit) {
    const b = hit.getBoundingClientRect();
    hit.dispatchEvent(new MouseEvent('mousemove', {clientX: b.left + b.width / 2, clientY: b.top + b.height / 2, bubbles: true}));
    const tip = document.querySelector('.tip:not([hidden])');
    put('hover', tip ? tip.textContent.replace(/[<>&]/g, '_') : '');
  }
  const pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = '\n' + out.join('\n') + '\n';
  document.body.appendChild(pre);
})();
</script>
</body>
</html>
EOF
# chrome NAME PAGE: opens a probed copy of PAGE; $D/NAME.dom is the DOM after
# the scripts ran, $D/NAME.log Chromium's log (console messages included)
chrome() {
  local name=$1 page=$2
  sed '/^<\/body>$/,$d' "$page" > "$(dirname "$page")/$name.probe.html"
  cat "$D/probe.js" >> "$(dirname "$page")/$name.probe.html"
  timeout 90 "$CHROME" --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$D/chrome-$name" \
    --enable-logging=stderr --v=0 --window-size=1280,2000 --dump-dom "file://$(dirname "$page")/$name.probe.html" \
    > "$D/$name.dom" 2> "$D/$name.log"
}
shot() {   # shot NAME PAGE HEIGHT: a PNG of the page as it is (no probe)
  timeout 90 "$CHROME" --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars --user-data-dir="$D/chrome-shot-$1" \
    --window-size=1280,"$3" --screenshot="$ART/$1.png" "file://$2" > /dev/null 2>&1
}
# two at a time: Chromium mostly waits
chrome dense "$D/dense/dashboard.html" & chrome moe "$D/moe/dashboard.html" & wait
chrome live "$D/live-own.html" & chrome regen "$D/live-regen.html" & wait
chrome stale "$D/live-stale.html" & chrome killed "$D/live/dashboard.html" & wait
chrome nan "$D/nan/dashboard.html" & chrome empty "$D/empty/dashboard.html" & wait
chrome corrupt "$D/corrupt/dashboard.html" & chrome compare "$D/compare.html" & wait
chrome res "$D/res/dashboard.html"
shot moe "$D/moe/dashboard.html" 2500 & shot dense "$D/dense/dashboard.html" 1900 & wait
shot compare "$D/compare.html" 1500 & shot corrupt "$D/corrupt/dashboard.html" 900 & wait

# probe NAME KEY: a value the probe read in page NAME
probe() { sed -n '/<pre id="probe">/,/<\/pre>/p' "$D/$1.dom" | sed -n "s/^$2=//p"; }
for p in dense moe live regen stale killed nan empty corrupt compare res; do
  if [ "$(probe $p rendered)" = yes ] && ! grep -q ':CONSOLE' "$D/$p.log" && [ "$(probe $p resources)" = 0 ]; then
    pass "browser_${p}_renders_no_console_messages_no_requests"
  else fail "browser_${p}_renders_no_console_messages_no_requests" "rendered '$(probe $p rendered)', resources '$(probe $p resources)': $(grep ':CONSOLE' "$D/$p.log" | head -3)"; fi
done
# every train row is a point of the loss, lr, grad norm and speed lines; every evaluation a validation point
check_points() {   # NAME METRICS MOE
  local name=$1 mj=$2 t v e r want got
  t=$(rows '"train_loss"' "$mj"); v=$(grep '"val_loss"' "$mj" | grep -vc '"final":true')   # the final evaluation: its own dots
  want="$t $t $v $t $t $t"
  got="$(probe $name loss_raw) $(probe $name loss_smoothed) $(probe $name loss_val) $(probe $name lr) $(probe $name grad) $(probe $name speed)"
  [ "$got" = "$want" ] && pass "browser_${name}_charts_one_point_per_row ($t train, $v val)" ||
    fail "browser_${name}_charts_one_point_per_row" "points $got, want $want"
  [ "$(probe $name bpb_axis) $(probe $name clip_label)" = "1 1" ] && [ "$(probe $name ticks_min)" -ge 8 ] &&
    pass "browser_${name}_axes_bpb_clip_ticks" || fail "browser_${name}_axes_bpb_clip_ticks" "bpb $(probe $name bpb_axis), clip $(probe $name clip_label), texts $(probe $name ticks_min)"
  if [ "$3" = moe ]; then
    e=$(rows '"expert_load"' "$mj")
    [ "$(probe $name heat_latest) $(probe $name heat_time) $(probe $name aux)" = "$((2 * 4)) $((2 * 4 * e)) $t" ] &&
      pass "browser_${name}_heatmap_L_x_E_cells (2 x 4, and 2 x 4 x $e over time)" ||
      fail "browser_${name}_heatmap_L_x_E_cells" "$(probe $name heat_latest) latest, $(probe $name heat_time) over time, $(probe $name aux) aux points ($e load rows)"
  else
    [ "$(probe $name heat_latest) $(probe $name aux)" = "0 -1" ] && pass "browser_${name}_dense_has_no_moe_section" ||
      fail "browser_${name}_dense_has_no_moe_section" "$(probe $name heat_latest) cells, aux $(probe $name aux)"
  fi
}
check_points dense "$D/dense/metrics.jsonl" dense
check_points moe "$m" moe
check_points res "$D/res/metrics.jsonl" dense
[ "$(probe moe samples) $(probe moe command)" = "2 1" ] && pass browser_moe_samples_and_command ||
  fail browser_moe_samples_and_command "samples $(probe moe samples), command $(probe moe command)"
[ "$(probe moe state) $(probe moe refresh)" = "finished 0" ] && pass browser_finished_run_does_not_refresh ||
  fail browser_finished_run_does_not_refresh "state $(probe moe state), refresh $(probe moe refresh)"
[ "$(probe live state) $(probe live refresh) $(probe regen state) $(probe regen refresh)" = "live 1 live 1" ] &&
  pass browser_live_run_shows_live_and_refreshes || fail browser_live_run_shows_live_and_refreshes \
  "own: $(probe live state) $(probe live refresh), regenerated: $(probe regen state) $(probe regen refresh)"
probe stale notes | grep -q 'No update for .*may have been killed' && pass browser_stale_live_page_says_so ||
  fail browser_stale_live_page_says_so "notes: $(probe stale notes)"
[ "$(probe killed state)" = stopped ] && probe killed notes | grep -q 'ended without recording how.*1 line could not be read.*cut short' &&
  pass browser_killed_run_stopped_with_notes || fail browser_killed_run_stopped_with_notes "$(probe killed state): $(probe killed notes)"
[ "$(probe nan state)" = failed ] && probe nan notes | grep -q 'at step' && pass browser_failed_run_shows_why ||
  fail browser_failed_run_shows_why "$(probe nan state): $(probe nan notes)"
probe empty notes | grep -q 'No rows in metrics.jsonl yet' && pass browser_empty_metrics_note || fail browser_empty_metrics_note "$(probe empty notes)"
t=$(grep -a '"train_loss"' "$D/corrupt/metrics.jsonl" | grep -ac '}$')   # the train rows left whole
probe corrupt notes | grep -q "4 lines could not be read.*line 5 (not one JSON object), line 9 (not one JSON object), line 10 (no \"step\" number), line $(( $(wc -l < "$m") + 1 )) (cut short" &&
  [ "$(probe corrupt loss_raw)" = $((t)) ] && pass "browser_corrupt_metrics_valid_rows_and_note ($t train points)" ||
  fail browser_corrupt_metrics_valid_rows_and_note "$(probe corrupt loss_raw) points (want $t): $(probe corrupt notes)"
probe moe hover | grep -q 'step.*train (raw): [0-9].*validation: [0-9.]* = [0-9.]* bits/byte' && pass browser_hover_shows_values ||
  fail browser_hover_shows_values "tooltip: '$(probe moe hover)'"
# compare: one line per run in each chart, one point per evaluation
# (periodic evaluations: the final one, over more tokens, is in the table of final figures)
pv() { grep '"val_loss"' "$1" | grep -vc '"final":true'; }
vd=$(pv "$D/dense/metrics.jsonl"); vm=$(pv "$m"); vl=$(pv "$D/live/metrics.jsonl")
if [ "$(probe compare cmp-step)" = "$vd,$vm,$vl" ] && [ "$(probe compare cmp-tokens)" = "$vd,$vm,$vl" ] &&
   [ "$(probe compare cmp-time)" = "$vd,$vm,$vl" ] && [ "$(probe compare finals_rows)" = 3 ]; then
  pass "browser_compare_overlays_runs ($vd, $vm, $vl evaluations)"
else fail browser_compare_overlays_runs "step $(probe compare cmp-step), tokens $(probe compare cmp-tokens), time $(probe compare cmp-time) (want $vd,$vm,$vl); $(probe compare finals_rows) rows"; fi
probe compare diff_keys | tr , '\n' | grep -qx experts && probe compare diff_keys | tr , '\n' | grep -qx steps &&
  ! probe compare diff_keys | tr , '\n' | grep -qx dim && pass browser_compare_lists_settings_that_differ ||
  fail browser_compare_lists_settings_that_differ "$(probe compare diff_keys)"
ok=1; for s in moe dense compare corrupt; do [ "$(head -c 4 "$ART/$s.png" 2>/dev/null | od -An -tx1 | tr -d ' ')" = 89504e47 ] || ok=0; done
[ $ok = 1 ] && pass "browser_screenshots_saved ($ART/*.png)" || fail browser_screenshots_saved "$(ls -la "$ART")"
exit $failed
