-- The example blog (the tables of `schema.toml` in this directory) on MySQL/MariaDB.
CREATE TABLE IF NOT EXISTS authors (
  id BIGINT PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  phone_number VARCHAR(255),
  inserted_at DATETIME(6),
  address JSON,
  social_links JSON
) ENGINE = InnoDB;
CREATE TABLE IF NOT EXISTS categories (
  id BIGINT PRIMARY KEY,
  name VARCHAR(255) NOT NULL
) ENGINE = InnoDB;
CREATE TABLE IF NOT EXISTS posts (
  id BIGINT PRIMARY KEY,
  author_id BIGINT NOT NULL,
  category_id BIGINT,
  title VARCHAR(255) NOT NULL,
  inserted_at DATETIME(6),
  FOREIGN KEY (author_id) REFERENCES authors (id),
  FOREIGN KEY (category_id) REFERENCES categories (id)
) ENGINE = InnoDB;
CREATE TABLE IF NOT EXISTS comments (
  id BIGINT PRIMARY KEY,
  post_id BIGINT NOT NULL,
  body TEXT NOT NULL,
  FOREIGN KEY (post_id) REFERENCES posts (id)
) ENGINE = InnoDB;
CREATE TABLE IF NOT EXISTS profiles (
  id BIGINT PRIMARY KEY,
  author_id BIGINT NOT NULL UNIQUE,
  bio TEXT NOT NULL,
  FOREIGN KEY (author_id) REFERENCES authors (id)
) ENGINE = InnoDB;
CREATE TABLE IF NOT EXISTS tags (
  id BIGINT PRIMARY KEY,
  name VARCHAR(255) NOT NULL
) ENGINE = InnoDB;
CREATE TABLE IF NOT EXISTS posts_tags (
  post_id BIGINT NOT NULL,
  tag_id BIGINT NOT NULL,
  PRIMARY KEY (post_id, tag_id),
  FOREIGN KEY (post_id) REFERENCES posts (id),
  FOREIGN KEY (tag_id) REFERENCES tags (id)
) ENGINE = InnoDB;
