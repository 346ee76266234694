<?php
// session.php -- the PHP-FPM peer of fcgi-app's GET / for tests/bench/app.
//
// Does the same session work as the C app: read the session named by the
// cookie (or create a new one when there is none), count the visit in
// "views", save it to Redis (phpredis session handler, configured by the
// pool in php-fpm.conf.in) and answer {"status":"ok"} as JSON.
session_start();
$_SESSION['views'] = ($_SESSION['views'] ?? 0) + 1;
header('Content-Type: application/json');
echo '{"status":"ok"}';
