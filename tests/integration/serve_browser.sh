#!/usr/bin/env bash
# serve_browser: the dashboard in a real browser (Debian's chromium,
# headless, a fresh profile, no network but loopback). serve runs on the
# demo's data; the page is loaded with the token in its URL fragment; the
# DOM chromium renders (--dump-dom, after the page's own API calls) must
# hold the commune ranking worst first with the API's figures (in
# Vietnamese number format, "22,37 %") and the communes' names with their
# diacritics, Vietnamese labels, the open alerts (one marked silenced); with ?lang=en the English
# labels and figures; with #dossier=ID that dossier's timeline. Screenshots
# are kept in $DW_BUILD_DIR/test-artifacts/ (serve_browser-vi.png, -en.png).
source "$DW_SOURCE_DIR/tests/lib.sh"
source "$DW_SOURCE_DIR/tests/http_lib.sh"

command -v chromium >/dev/null || dw_fail "chromium is not installed (deploy/install-deps.sh)"
dw_http_data 20
# the data ends today and watch runs on the wall clock: a deadline passing
# between the API's reply and the browser's would change a figure; stop it
dw_stop "$DW_WATCH_PID"
P=$(dw_token board province)
dw_start_serve
# a silence over the newest open alert's dossier: the alert stays listed, marked
# (its dossier and rule: the dossier may have other open alerts)
newest=$(dw_psql "SELECT alert_id || ' ' || dossier_id || ' ' || rule FROM alerts WHERE cleared_at IS NULL ORDER BY raised_at DESC, alert_id DESC LIMIT 1")
read -r newest_id newest_dossier newest_rule <<<"$newest"
"$DW_BIN" silence add --matcher "dossier_id=$newest_dossier" --matcher "rule=$newest_rule" --for 8h --author test \
  --comment "browser test" >/dev/null 2>&1 ||
  dw_fail "silence add"
art=${DW_BUILD_DIR:-$DW_SOURCE_DIR/build}/test-artifacts
mkdir -p "$art"

# chromium's flags for a test: no sandbox (root), no GPU, nothing phoning
# out, a profile of its own; --virtual-time-budget lets the page's fetches
# finish before the DOM is dumped
browse() { # URL WHAT [EXTRA_FLAGS...]
  local url=$1 what=$2
  shift 2
  rm -rf "$DW_TMP/profile-$what"
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --disable-default-apps \
    --user-data-dir="$DW_TMP/profile-$what" --virtual-time-budget=20000 --window-size=1280,1400 "$@" "$url" \
    2>>"$DW_TMP/chromium.log"
}

rank=$(dw_get "$P" "/api/v1/ranking?unit_type=commune&period_kind=quarter&period=current&by=result_digitized_rate")
browse "http://$DW_SERVE/#token=$P" vi --dump-dom >"$DW_TMP/vi.html"
browse "http://$DW_SERVE/#token=$P" vi-shot --screenshot="$art/serve_browser-vi.png" >/dev/null
[ -s "$art/serve_browser-vi.png" ] || dw_fail "no screenshot"
grep -q 'data-ready="true"' "$DW_TMP/vi.html" || { head -c 3000 "$DW_TMP/vi.html"; dw_fail "the page did not finish loading"; }

# the rendered ranking against the API's reply: order, code, name, every
# figure as shown (vi "22,37 %") and its value
echo "$rank" >"$DW_TMP/rank.json"
rows_py=$DW_SOURCE_DIR/tests/integration/dashboard_rows.py
python3 "$rows_py" "$DW_TMP/vi.html" "$DW_TMP/rank.json" vi 2>"$DW_TMP/vi.rows" ||
  dw_fail "the ranking rendered in the browser (vi) differs from the API's"
head -1 "$DW_TMP/vi.rows" | grep -qx "29233	Xã Thanh An" || dw_fail "Thanh An is not first: $(head -1 "$DW_TMP/vi.rows")"
sed -n 2p "$DW_TMP/vi.rows" | grep -qx "29221	Xã Long Hiệp" || dw_fail "Long Hiệp is not second"
for label in "Xếp hạng xã, phường" "Số hóa kết quả" "Số hóa hồ sơ" "Đúng hạn" "Trực tuyến" "Quá hạn đang mở" \
             "Cảnh báo đang mở" "Tỷ lệ theo tháng" "Hạn trả kết quả"; do
  grep -qF "$label" "$DW_TMP/vi.html" || dw_fail "label '$label' missing"
done
grep -q 'lang="vi"' "$DW_TMP/vi.html" || dw_fail "page language not vi"
alerts=$(grep -o 'data-alert="' "$DW_TMP/vi.html" | wc -l)
[ "$alerts" -eq 50 ] || dw_fail "open alerts rendered: $alerts, want a first page of 50"
grep -q '<canvas id="chart"' "$DW_TMP/vi.html" || dw_fail "no chart"
grep -qF "data-alert=\"$newest_id\" class=\"silenced\"" "$DW_TMP/vi.html" || dw_fail "the silenced alert is not marked"
dw_assert_eq 1 "$(grep -o 'class="silenced"' "$DW_TMP/vi.html" | wc -l)" "alerts marked silenced"
grep -qF '>đã tắt thông báo</span>' "$DW_TMP/vi.html" || dw_fail "no 'đã tắt thông báo' mark"
if grep -q 'id="error" class="error">[^<]' "$DW_TMP/vi.html"; then dw_fail "the page shows an error"; fi

# English
browse "http://$DW_SERVE/?lang=en#token=$P" en --dump-dom >"$DW_TMP/en.html"
browse "http://$DW_SERVE/?lang=en#token=$P" en-shot --screenshot="$art/serve_browser-en.png" >/dev/null
for label in "Commune ranking" "Result digitization" "Intake digitization" "On time" "Open alerts" "Rates by month"; do
  grep -qF "$label" "$DW_TMP/en.html" || dw_fail "English label '$label' missing"
done
python3 "$rows_py" "$DW_TMP/en.html" "$DW_TMP/rank.json" en 2>/dev/null ||
  dw_fail "the ranking rendered in the browser (en) differs from the API's"

# a dossier's timeline through its link (#dossier=ID)
d=$(jq -r 'select(.type == "SUPPLEMENT_REQUESTED") | .dossier_id' "$(dw_events_jsonl)" | LC_ALL=C sort | sed -n 1p)
browse "http://$DW_SERVE/#token=$P&dossier=$d" dossier --dump-dom >"$DW_TMP/dossier.html"
dw_assert_eq "$(dw_psql "SELECT count(*) FROM archive_events WHERE dossier_id = '$d'")" \
  "$(grep -o 'data-event="' "$DW_TMP/dossier.html" | wc -l)" "timeline rows of $d"
grep -qF "Yêu cầu bổ sung" "$DW_TMP/dossier.html" || dw_fail "the supplement request is not in the timeline"
grep -qF "Tạm dừng" "$DW_TMP/dossier.html" || dw_fail "the pause is not shown"

# without a token the page asks for one and shows no data
browse "http://$DW_SERVE/" none --dump-dom >"$DW_TMP/none.html"
grep -q 'id="login"' "$DW_TMP/none.html" && ! grep -q 'data-unit=' "$DW_TMP/none.html" || dw_fail "no token: data shown"
grep -q '<section id="login">' "$DW_TMP/none.html" || dw_fail "no token: the token form is hidden"
echo "serve_browser: ok (screenshots in $art)"
