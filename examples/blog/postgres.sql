-- The example blog (the tables of `schema.toml` in this directory) on PostgreSQL.
CREATE TABLE IF NOT EXISTS authors (
  id BIGINT PRIMARY KEY,
  name TEXT NOT NULL,
  phone_number TEXT,
  inserted_at TIMESTAMP(6),
  address JSONB,
  social_links JSONB
);
CREATE TABLE IF NOT EXISTS categories (
  id BIGINT PRIMARY KEY,
  name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS posts (
  id BIGINT PRIMARY KEY,
  author_id BIGINT NOT NULL REFERENCES authors (id),
  category_id BIGINT REFERENCES categories (id),
  title TEXT NOT NULL,
  inserted_at TIMESTAMP(6)
);
CREATE TABLE IF NOT EXISTS comments (
  id BIGINT PRIMARY KEY,
  post_id BIGINT NOT NULL REFERENCES posts (id),
  body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS profiles (
  id BIGINT PRIMARY KEY,
  author_id BIGINT NOT NULL UNIQUE REFERENCES authors (id),
  bio TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tags (
  id BIGINT PRIMARY KEY,
  name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS posts_tags (
  post_id BIGINT NOT NULL REFERENCES posts (id),
  tag_id BIGINT NOT NULL REFERENCES tags (id),
  PRIMARY KEY (post_id, tag_id)
);
