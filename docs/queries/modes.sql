SELECT r.mode,
       coalesce(json_extract(r.params, '$."protocol.learning"'), 'continuous') AS learning,
       coalesce(json_extract(r.params, '$."runtime.workers"'), '-') AS workers,
       count(DISTINCT r.run_id) AS runs,
       round(avg(s.test_acc), 4) AS test_accuracy,
       round(min(s.test_acc), 4) AS worst,
       round(avg(s.train_settle), 3) AS train_settle_time,
       printf('%.4f', avg(s.train_energy)) AS train_energy,
       round(avg(c.value), 2) AS wall_seconds
FROM runs r
JOIN (SELECT run_id,
             avg(CASE WHEN phase = 'test' THEN predicted = label END) AS test_acc,
             avg(CASE WHEN phase = 'train' THEN settle_time END) AS train_settle,
             avg(CASE WHEN phase = 'train' THEN energy END) AS train_energy
      FROM samples GROUP BY run_id) s ON s.run_id = r.run_id
JOIN counters c ON c.run_id = r.run_id AND c.name = 'wall_seconds'
WHERE json_extract(r.params, '$."runtime.mode"') IS NOT NULL
   OR json_extract(r.params, '$."runtime.workers"') IS NOT NULL
GROUP BY r.mode, learning, workers ORDER BY r.mode, learning, workers;
