exports = async function (user) {
  return true;
};
