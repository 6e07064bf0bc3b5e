<?php
// Publishes one event the way a Laravel app with BROADCAST_DRIVER=redis does: Debian's Laravel
// framework (8.83), the .env in <dir> read by Laravel's own Dotenv repository, the app's
// config/database.php and config/broadcasting.php as Laravel ships them, a phpredis connection
// with the app's prefix, and the queued BroadcastEvent job's handle() on the BroadcastManager,
// which calls RedisBroadcaster::broadcast. Nothing here writes to Redis by hand.
//
//   php publish.php <dir> prefix
//       prints the Redis prefix Laravel derives from the .env (database.redis.options.prefix)
//   php publish.php <dir> <public|private|presence> <channel> <message JSON> [<socket id>]
//       broadcasts App\Events\NewMessage {message} on that channel; with a socket id, as
//       broadcast(...)->toOthers() does from a request carrying X-Socket-ID
namespace App\Events;

require_once '/usr/share/php/Illuminate/autoload.php';

use Dotenv\Dotenv;
use Illuminate\Broadcasting\BroadcastEvent;
use Illuminate\Broadcasting\BroadcastManager;
use Illuminate\Broadcasting\Channel;
use Illuminate\Broadcasting\InteractsWithSockets;
use Illuminate\Broadcasting\PresenceChannel;
use Illuminate\Broadcasting\PrivateChannel;
use Illuminate\Config\Repository;
use Illuminate\Container\Container;
use Illuminate\Contracts\Broadcasting\ShouldBroadcast;
use Illuminate\Redis\RedisManager;
use Illuminate\Support\Env;
use Illuminate\Support\Str;

class NewMessage implements ShouldBroadcast
{
    use InteractsWithSockets;

    public $message;
    private $channel;

    public function __construct($channel, $message)
    {
        $this->channel = $channel;
        $this->message = $message;
    }

    public function broadcastOn()
    {
        return $this->channel;
    }
}

[$script, $dir, $what] = $argv + [null, null, null];
Dotenv::create(Env::getRepository(), $dir)->safeLoad();

$app = new Container();
Container::setInstance($app);
$app->instance('config', new Repository([
    // config/database.php (Laravel 8), the redis part.
    'database' => ['redis' => [
        'client' => env('REDIS_CLIENT', 'phpredis'),
        'options' => [
            'cluster' => env('REDIS_CLUSTER', 'redis'),
            'prefix' => env('REDIS_PREFIX', Str::slug(env('APP_NAME', 'laravel'), '_').'_database_'),
        ],
        'default' => [
            'url' => env('REDIS_URL'),
            'host' => env('REDIS_HOST', '127.0.0.1'),
            'password' => env('REDIS_PASSWORD', null),
            'port' => env('REDIS_PORT', '6379'),
            'database' => env('REDIS_DB', '0'),
        ],
    ]],
    // config/broadcasting.php (Laravel 8), the redis connection.
    'broadcasting' => [
        'default' => env('BROADCAST_DRIVER', 'null'),
        'connections' => ['redis' => ['driver' => 'redis', 'connection' => 'default']],
    ],
]));
$app->singleton('redis', function ($app) {
    $config = $app['config']['database.redis'];
    return new RedisManager($app, $config['client'], $config);
});

if ($what === 'prefix') {
    echo $app['config']['database.redis.options.prefix'];
    exit(0);
}

[, , , $channel, $message, $socket] = $argv + array_fill(0, 7, null);
$ch = ['public' => fn ($n) => new Channel($n), 'private' => fn ($n) => new PrivateChannel($n),
       'presence' => fn ($n) => new PresenceChannel($n)][$what]($channel);
$event = new NewMessage($ch, json_decode($message, true));
$event->socket = $socket; // what dontBroadcastToCurrentUser() reads from X-Socket-ID
(new BroadcastEvent($event))->handle(new BroadcastManager($app));
