SELECT json_extract(r.params, '$."dynamics.dt_spread"') AS dt_spread,
       count(DISTINCT r.run_id) AS runs,
       round(avg(s.test_acc), 4) AS test_accuracy,
       round(min(s.test_acc), 4) AS worst,
       round(avg(s.train_settle), 3) AS train_settle_time,
       printf('%.4f', avg(s.train_energy)) AS train_energy
FROM runs r
JOIN (SELECT run_id,
             avg(CASE WHEN phase = 'test' THEN predicted = label END) AS test_acc,
             avg(CASE WHEN phase = 'train' THEN settle_time END) AS train_settle,
             avg(CASE WHEN phase = 'train' THEN energy END) AS train_energy
      FROM samples GROUP BY run_id) s ON s.run_id = r.run_id
WHERE json_extract(r.params, '$."dynamics.dt_spread"') IS NOT NULL
GROUP BY dt_spread ORDER BY CAST(dt_spread AS REAL);
