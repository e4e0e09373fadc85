# project.jq: the events the dvcqg records can carry, from simulated events
# in their order (jq -c -n -f project.jq < events.jsonl). It is what reading
# back `simulate --format dvcqg` must give, in the same order, event ids
# aside (the simulator's are kept, so the projection can be produced and
# watched as it is) and RECEIVED's due time aside (the records always carry
# NgayHenTra, where the simulator may give processing_days: the alerts
# compare the due times):
#  - DIGITIZED, DOC_REUSED and online PAYMENT are dated at the receipt
#    (NgayTiepNhan: the records have no date of their own for them);
#  - PAPER_REQUESTED, TRANSFERRED, APOLOGY_ISSUED, RESULT_DIGITIZED, RATED
#    and offline PAYMENT have no field in the records and disappear (a
#    transfer shows only as the agency of the later events);
#  - REJECTED has the one reason the records can give.
foreach inputs as $e ({t0: {}};
  if $e.type == "RECEIVED" then .t0[$e.dossier_id] = $e.occurred_at else . end;
  . as $s | $e |
  if .type == "DIGITIZED" or .type == "DOC_REUSED" then .occurred_at = $s.t0[.dossier_id]
  elif .type == "PAYMENT" then (if .online then .occurred_at = $s.t0[.dossier_id] else empty end)
  elif .type == "REJECTED" then .reason = "Không tiếp nhận / từ chối giải quyết (TrangThaiHoSo 3)"
  elif (.type | IN("PAPER_REQUESTED", "TRANSFERRED", "APOLOGY_ISSUED", "RESULT_DIGITIZED", "RATED")) then empty
  else . end)
