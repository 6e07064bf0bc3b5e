// Shared fixtures: the Laravel-like users and routes/channels.php callbacks played by the auth
// server in the Echo, SDK and browser tests.
export const USERS = {
  u1: { id: 1, name: 'Alice', avatar: '/avatars/1.png', chats: ['42'], teams: ['7'] },
  u2: { id: 2, name: 'Bob', avatar: '/avatars/2.png', chats: ['42'], teams: ['7'] },
  u3: { id: 3, name: 'Carol', avatar: '/avatars/3.png', chats: [], teams: [] },
};

/** routes/channels.php equivalents (prefix already stripped, like Laravel does). */
export const CHANNELS = {
  'chat.{chatId}': (user, { chatId }) => user.chats.includes(chatId),
  'team.{teamId}': (user, { teamId }) =>
    user.teams.includes(teamId) ? { id: user.id, name: user.name, avatar: user.avatar } : false,
  'orders.{orderId}': () => true,
  'App.Models.User.{id}': (user, { id }) => String(user.id) === id,
  activity: () => true,
  'document.{documentId}': () => true,
  room: (user) => ({ id: user.id, name: user.name }),
  denied: () => false,
  'secret.{id}': (user, { id }) => String(user.id) === id,
};
